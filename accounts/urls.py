"""Team, invites, password change and API tokens: the pages (API: evalsite/api_urls.py).

Each group's routes are named `{group}-{key}` (evalsite/routes.py).
"""

from django.urls import URLPattern, path

from accounts import views
from evalsite.routes import routes

team_member = {
    "": ("<int:user_id>/", views.team_member),
    "active": ("<int:user_id>/active/", views.team_member_active),
}
invite = {
    "new": ("team/invites/new/", views.invite_new),
    "revoke": ("team/invites/<int:invite_id>/revoke/", views.invite_revoke_view),
    "accept": ("invite/<str:token>/", views.invite_accept_view),
}
password_change = {
    "": ("", views.PasswordChange.as_view()),
    "done": ("done/", views.PasswordChangeDone.as_view()),
}

urlpatterns: list[URLPattern] = [
    path("team/", views.team, name="team"),
    *routes("team/members/", "team-member", team_member),
    *routes("", "invite", invite),
    *routes("accounts/password/", "password-change", password_change),
    path("accounts/tokens/", views.api_tokens, name="api-tokens"),
    path(
        "accounts/tokens/<int:token_id>/revoke/",
        views.api_token_revoke_view,
        name="api-token-revoke",
    ),
]
