"""Model fields that several apps declare alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # settings.AUTH_USER_MODEL


def user_reference(**options: Any) -> models.ForeignKey[User | None, User | None]:
    """A link to the user who made, used or did something, on a record that outlives them:
    deleting the account empties the link and keeps the record; the user gets no reverse
    accessor. Optional (null and blank) unless `options` say otherwise; they add e.g. help_text.
    """
    field: dict[str, Any] = {
        "null": True,
        "blank": True,
        "on_delete": models.SET_NULL,
        "related_name": "+",
        **options,
    }
    return models.ForeignKey(settings.AUTH_USER_MODEL, **field)
