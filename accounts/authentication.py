"""API key authentication: `Authorization: Token loupe_…`, checked against stored hashes."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from accounts.selectors import api_token_for_key
from accounts.services import API_TOKEN_PREFIX, api_token_touch


class ApiTokenAuthentication(TokenAuthentication):
    """Keys issued on the API tokens page (several per researcher, revocable one by one).

    A key without Loupe's prefix is left to the next class (rest_framework.authtoken keys made
    in the admin keep working). Listed first in REST_FRAMEWORK so that a missing or refused
    credential answers 401 with `WWW-Authenticate: Token`, not 403.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Any] | None:  # type: ignore[override]
        if not key.startswith(API_TOKEN_PREFIX):
            return None
        token = api_token_for_key(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        api_token_touch(token=token)
        return token.user, token
