"""Who may do what. Researchers build and read studies; raters judge pairs."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

RESEARCHERS = "researchers"
RATERS = "raters"


def _in_group(user: AbstractBaseUser | AnonymousUser, group: str) -> bool:
    if not user.is_authenticated:
        return False
    cache = getattr(user, "_loupe_groups", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))  # type: ignore[union-attr]
        user._loupe_groups = cache  # type: ignore[union-attr]
    return group in cache


def is_researcher(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and (user.is_staff or _in_group(user, RESEARCHERS)))  # type: ignore[union-attr]


def is_rater(user: AbstractBaseUser | AnonymousUser) -> bool:
    return _in_group(user, RATERS)
