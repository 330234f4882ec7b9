"""Writes about the team: invites, accounts, membership, activation and API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.models import INVITE_NOTE_MAX, TOKEN_NAME_MAX, ApiToken, Invite
from evalsite.roles import RATERS, RESEARCHERS, is_researcher
from ratings.models import Study

logger = logging.getLogger(__name__)

#: Every key Loupe issues starts with this, so the authentication class knows a key is one of
#: its own (hashed) rather than a legacy rest_framework.authtoken key.
API_TOKEN_PREFIX = "loupe_"
INVITE_MAX_DAYS = 90
#: Active API tokens a user may hold at once.
ACTIVE_TOKENS_MAX = 20
ROLE_GROUPS = (RATERS, RESEARCHERS)


def secret_hash(secret: str) -> str:
    """sha256 of a random secret: enough for 256-bit tokens, which cannot be guessed."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInvite:
    invite: Invite
    token: str  # shown once; only its hash is stored


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # shown once; only its hash is stored


def _assignable_groups(groups: Sequence[Group]) -> list[Group]:
    roles = [g.name for g in groups if g.name in ROLE_GROUPS]
    if roles:
        raise ValidationError(
            {"groups": f"Roles are not rater groups: {', '.join(sorted(roles))} cannot be chosen."},
            code="role_group",
        )
    return list(groups)


def invite_create(
    *,
    actor: Any,
    role: str = Invite.Role.RATER,
    studies: Sequence[Study] = (),
    groups: Sequence[Group] = (),
    days: int | None = None,
    note: str = "",
) -> IssuedInvite:
    """Issue a single-use invite link. Not idempotent: each call makes a new, distinct invite."""
    if not is_researcher(actor):
        raise ValidationError("Only researchers may invite people.", code="forbidden")
    if role not in Invite.Role.values:
        raise ValidationError(
            {"role": f"Role must be one of {', '.join(Invite.Role.values)}."}, code="role"
        )
    if role == Invite.Role.RESEARCHER and not actor.is_staff:
        raise ValidationError(
            {"role": "Only staff may invite researchers; invite a rater instead."},
            code="role_forbidden",
        )
    days = settings.LOUPE_INVITE_DAYS if days is None else days
    if not 1 <= days <= INVITE_MAX_DAYS:
        raise ValidationError(
            {"days": f"An invite is valid for 1 to {INVITE_MAX_DAYS} days."}, code="days"
        )
    if len(note) > INVITE_NOTE_MAX:
        raise ValidationError(
            {"note": f"The note is at most {INVITE_NOTE_MAX} characters."}, code="note"
        )
    groups = _assignable_groups(groups)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invite = Invite.objects.create(
            token_hash=secret_hash(token),
            role=role,
            note=note,
            created_by=actor,
            expires_at=timezone.now() + timedelta(days=days),
        )
        invite.studies.set(studies)
        invite.groups.set(groups)
    logger.info("Invite %s (%s) issued by %s", invite.pk, role, actor.pk)
    return IssuedInvite(invite=invite, token=token)


def invite_revoke(*, invite: Invite, actor: Any) -> bool:
    """Make an unused invite unusable. Safe to run twice (False when nothing changed)."""
    changed = Invite.objects.filter(
        pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    if changed:
        logger.info("Invite %s revoked by %s", invite.pk, getattr(actor, "pk", None))
    invite.refresh_from_db()
    return bool(changed)


INVITE_UNUSABLE = (
    "This invite link cannot be used: it has expired, was already used, or was revoked. "
    "Ask the researcher who sent it for a new one."
)


def _username_check(username: str) -> str:
    User = get_user_model()
    field = cast(models.Field[Any, Any], User._meta.get_field(User.USERNAME_FIELD))
    username = User.normalize_username(username.strip())
    if not username:
        raise ValidationError({"username": "Choose a username."}, code="required")
    try:
        field.run_validators(username)
    except ValidationError as error:
        raise ValidationError({"username": error.messages}, code="invalid") from error
    if len(username) > (field.max_length or 150):
        raise ValidationError(
            {"username": f"A username is at most {field.max_length} characters."}, code="max_length"
        )
    if User._default_manager.filter(**{f"{User.USERNAME_FIELD}__iexact": username}).exists():
        raise ValidationError({"username": "That username is taken; choose another."}, code="taken")
    return username


def invite_accept(*, token: str, username: str, password: str) -> Any:
    """Create the invited account, in the invite's role, studies and groups.

    Single use: the invite is claimed by a conditional UPDATE in the same transaction as the
    account, so two people racing on one link get one account, and a refused password leaves
    the invite unused. Not safe to run twice (the second call is refused).
    """
    User = get_user_model()
    invite = Invite.objects.filter(token_hash=secret_hash(token)).first()
    if invite is None or not invite.is_open():
        raise ValidationError(INVITE_UNUSABLE, code="unusable")
    problems: dict[str, list[str]] = {}
    try:
        username = _username_check(username)
    except ValidationError as error:
        problems.update(error.message_dict)
    try:
        validate_password(password, user=User(**{User.USERNAME_FIELD: username}))
    except ValidationError as error:
        problems["password"] = error.messages
    if problems:
        # Every field's problem at once: the invitee fixes them in one go.
        raise ValidationError(problems, code="invalid")
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = Invite.objects.filter(
                pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
            ).update(used_at=now)
            if not claimed:
                raise ValidationError(INVITE_UNUSABLE, code="unusable")
            user = User._default_manager.create_user(username=username, password=password)
            user.groups.add(Group.objects.get_or_create(name=invite.role)[0])
            user.groups.add(*invite.groups.all())
            user.rater_studies.add(*invite.studies.all())
            Invite.objects.filter(pk=invite.pk).update(used_by=user)
    except IntegrityError as error:
        raise ValidationError(
            {"username": "That username is taken; choose another."}, code="taken"
        ) from error
    logger.info("Invite %s accepted: user %s (%s)", invite.pk, user.pk, invite.role)
    return user


def _manageable(*, actor: Any, member: Any) -> None:
    if not is_researcher(actor):
        raise ValidationError("Only researchers manage the team.", code="forbidden")
    if member.pk == actor.pk:
        raise ValidationError("You cannot change your own account here.", code="self")
    if member.is_staff or member.is_superuser:
        raise ValidationError("Staff accounts are managed in the admin.", code="staff")
    if is_researcher(member) and not actor.is_staff:
        raise ValidationError("Only staff manage researchers' accounts.", code="researcher")


def team_member_set_active(*, actor: Any, member: Any, active: bool) -> bool:
    """Deactivate (no login, no votes; their votes are kept) or reactivate an account.

    Safe to run twice: returns False when the account already had that state.
    """
    _manageable(actor=actor, member=member)
    User = get_user_model()
    changed = (
        User._default_manager.filter(pk=member.pk)
        .exclude(is_active=active)
        .update(is_active=active)
    )
    member.is_active = active
    if changed:
        logger.info(
            "User %s %s by %s", member.pk, "reactivated" if active else "deactivated", actor.pk
        )
    return bool(changed)


def team_member_assign(
    *, actor: Any, member: Any, studies: Sequence[Study], groups: Sequence[Group]
) -> None:
    """Set the studies a member is named on and the rater groups they belong to.

    Their role (raters / researchers) is kept. Safe to run twice.
    """
    _manageable(actor=actor, member=member)
    groups = _assignable_groups(groups)
    with transaction.atomic():
        roles = list(member.groups.filter(name__in=ROLE_GROUPS))
        member.groups.set([*roles, *groups])
        member.rater_studies.set(studies)
    if hasattr(member, "_loupe_groups"):
        del member._loupe_groups
    logger.info(
        "User %s assigned by %s: studies %s, groups %s",
        member.pk,
        actor.pk,
        sorted(s.pk for s in studies),
        sorted(g.pk for g in groups),
    )


def api_token_create(*, user: Any, name: str) -> IssuedToken:
    """Issue a new API key for a researcher. Not idempotent: each call makes a new key."""
    if not is_researcher(user):
        raise ValidationError("Only researchers may have API tokens.", code="forbidden")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the token (e.g. the script that uses it)."})
    if len(name) > TOKEN_NAME_MAX:
        raise ValidationError({"name": f"A token name is at most {TOKEN_NAME_MAX} characters."})
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= ACTIVE_TOKENS_MAX:
        raise ValidationError(
            {"name": f"You have {ACTIVE_TOKENS_MAX} active tokens: revoke one first."}
        )
    key = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:12], key_hash=secret_hash(key)
    )
    logger.info("API token %s created for user %s", token.pk, user.pk)
    return IssuedToken(token=token, key=key)


def api_token_revoke(*, user: Any, token_id: int) -> bool:
    """Revoke one of the user's own tokens. Safe to run twice (False when nothing changed)."""
    changed = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if changed:
        logger.info("API token %s revoked by user %s", token_id, user.pk)
    return bool(changed)


#: last_used_at is written at most this often per token: not one UPDATE per API call.
TOKEN_TOUCH_SECONDS = 60


def api_token_touch(*, token: ApiToken) -> None:
    """Record that the token was used. Safe to run twice."""
    now = timezone.now()
    if token.last_used_at and (now - token.last_used_at).total_seconds() < TOKEN_TOUCH_SECONDS:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
