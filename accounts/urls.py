"""Team, invites, password change and API tokens: the pages (API: evalsite/api_urls.py)."""

from django.urls import URLPattern, path

from accounts import views

urlpatterns: list[URLPattern] = [
    path("team/", views.team, name="team"),
    path("team/invites/new/", views.invite_new, name="invite-new"),
    path("team/invites/<int:invite_id>/revoke/", views.invite_revoke_view, name="invite-revoke"),
    path("team/members/<int:user_id>/", views.team_member, name="team-member"),
    path("team/members/<int:user_id>/active/", views.team_member_active, name="team-member-active"),
    path("invite/<str:token>/", views.invite_accept_view, name="invite-accept"),
    path("accounts/password/", views.PasswordChange.as_view(), name="password-change"),
    path(
        "accounts/password/done/", views.PasswordChangeDone.as_view(), name="password-change-done"
    ),
    path("accounts/tokens/", views.api_tokens, name="api-tokens"),
    path(
        "accounts/tokens/<int:token_id>/revoke/",
        views.api_token_revoke_view,
        name="api-token-revoke",
    ),
]
