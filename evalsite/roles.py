"""Who may do what. Researchers build and read studies; raters judge pairs."""

from __future__ import annotations

from typing import Any

RESEARCHERS = "researchers"
RATERS = "raters"


def _group_names(user: Any) -> set[str]:
    # Cached on the user object: templates and permission checks ask several times a request.
    names: set[str] | None = getattr(user, "_loupe_groups", None)
    if names is None:
        names = set(user.groups.values_list("name", flat=True))
        user._loupe_groups = names
    return names


def is_researcher(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_staff or RESEARCHERS in _group_names(user))


def is_rater(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and RATERS in _group_names(user))
