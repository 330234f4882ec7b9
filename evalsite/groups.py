"""The two groups and what each may do; kept in step after every migrate."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from evalsite.roles import RATERS, RESEARCHERS

RATER_PERMISSIONS = ["view_study", "view_comparison", "view_image", "add_judgment", "view_judgment"]


def groups_ensure(**signal_kwargs: Any) -> None:
    """Create or update the researchers and raters groups. Safe to run twice."""
    researchers, _ = Group.objects.get_or_create(name=RESEARCHERS)
    researchers.permissions.set(
        Permission.objects.filter(content_type__app_label__in=["generation", "ratings"])
    )
    raters, _ = Group.objects.get_or_create(name=RATERS)
    raters.permissions.set(
        Permission.objects.filter(
            Q(content_type__app_label__in=["generation", "ratings"])
            & Q(codename__in=RATER_PERMISSIONS)
        )
    )
