"""Team pages (researchers), the invite landing page (anyone with the link), password change
and API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import AcceptInviteForm, AssignForm, InviteForm, PasswordForm, TokenForm
from accounts.models import Invite
from accounts.selectors import (
    TeamMember,
    api_tokens_for,
    invite_for_token,
    invites_pending,
    rater_groups,
    team_member_get,
    team_members,
)
from accounts.services import (
    INVITE_UNUSABLE,
    api_token_create,
    api_token_revoke,
    invite_accept,
    invite_create,
    invite_revoke,
    team_member_assign,
    team_member_set_active,
)
from evalsite.web import add_errors, researcher_required


def _invite_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("invite-accept", args=[token]))


@researcher_required
def team(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/team.html",
        {"members": team_members(), "invites": invites_pending(), "has_groups": rater_groups()},
    )


@researcher_required
@require_http_methods(["GET", "POST"])
@never_cache
def invite_new(request: HttpRequest) -> HttpResponse:
    staff = bool(request.user.is_staff)
    form = InviteForm(request.POST or None, can_invite_researchers=staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = invite_create(
                actor=request.user,
                role=data["role"],
                studies=list(data["studies"]),
                groups=list(data["groups"]),
                days=data["days"],
                note=data["note"],
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            # Rendered, not redirected: the link exists only in this response.
            return render(
                request,
                "accounts/invite_created.html",
                {"invite": issued.invite, "url": _invite_url(request, issued.token)},
            )
    return render(request, "accounts/invite_new.html", {"form": form})


@researcher_required
@require_POST
def invite_revoke_view(request: HttpRequest, invite_id: int) -> HttpResponse:
    invite = get_object_or_404(Invite, pk=invite_id)
    if invite_revoke(invite=invite, actor=request.user):
        messages.success(request, "Invite revoked: its link no longer works.")
    else:
        messages.info(request, "That invite was already used or revoked.")
    return redirect("team")


def _member(user_id: int) -> TeamMember:
    # Only raters are managed here; anyone else is a 404 rather than a hint.
    member = team_member_get(user_id)
    if member is None:
        raise Http404("No rater with that id.")
    return member


@researcher_required
@require_http_methods(["GET", "POST"])
def team_member(request: HttpRequest, user_id: int) -> HttpResponse:
    member = _member(user_id)
    initial = {
        "studies": list(member.named_study_ids),
        "groups": list(member.user.groups.filter(pk__in=rater_groups())),
    }
    form = AssignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            team_member_assign(
                actor=request.user,
                member=member.user,
                studies=list(form.cleaned_data["studies"]),
                groups=list(form.cleaned_data["groups"]),
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Saved {member.user.get_username()}'s studies and groups.")
            return redirect("team-member", user_id=user_id)
    return render(request, "accounts/member.html", {"member": member, "form": form})


@researcher_required
@require_POST
def team_member_active(request: HttpRequest, user_id: int) -> HttpResponse:
    member = _member(user_id).user
    action = request.POST.get("action", "")
    if action not in ("deactivate", "reactivate"):
        return HttpResponse("action must be 'deactivate' or 'reactivate'.", status=400)
    name = member.get_username()
    try:
        changed = team_member_set_active(
            actor=request.user, member=member, active=action == "reactivate"
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if not changed:
            messages.info(request, f"{name} was already {action}d.")
        elif action == "deactivate":
            messages.success(request, f"{name} can no longer log in or vote; their votes stay.")
        else:
            messages.success(request, f"{name} can log in and vote again.")
    if request.POST.get("next") == "member":
        return redirect("team-member", user_id=user_id)
    return redirect("team")


@login_not_required
@require_http_methods(["GET", "POST"])
@never_cache
def invite_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    invite = invite_for_token(token=token)
    if invite is None or not invite.is_open():
        return render(
            request, "accounts/invite_accept.html", {"unusable": INVITE_UNUSABLE}, status=410
        )
    if request.user.is_authenticated:
        return render(request, "accounts/invite_accept.html", {"invite": invite, "signed_in": True})
    form = AcceptInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invite_accept(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as error:
            if not hasattr(error, "error_dict"):
                return render(
                    request,
                    "accounts/invite_accept.html",
                    {"unusable": error.messages[0]},
                    status=410,
                )
            for field, problems in error.message_dict.items():
                form.add_error("password1" if field == "password" else field, problems)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.get_username()}: your account is ready.")
            return redirect("home")
    return render(request, "accounts/invite_accept.html", {"invite": invite, "form": form})


@researcher_required
@require_http_methods(["GET", "POST"])
@never_cache
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            add_errors(form, error)
        else:
            form = TokenForm()
    return render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "issued": issued,
            "tokens": api_tokens_for(user=request.user),
            "api_url": request.build_absolute_uri(reverse("api-study-list")),
        },
    )


@researcher_required
@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token_id = get_object_or_404(api_tokens_for(user=request.user), pk=token_id).pk
    if api_token_revoke(user=request.user, token_id=token_id):
        messages.success(request, "Token revoked: requests with it now answer 401.")
    else:
        messages.info(request, "That token was already revoked.")
    return redirect("api-tokens")


class PasswordChange(auth_views.PasswordChangeView):
    form_class = PasswordForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("password-change-done")


class PasswordChangeDone(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"
