"""The audit log: one append-only row per launch, open, close, exclusion or restore."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from ratings.models import AuditEvent, Study

Actor = AbstractBaseUser | AnonymousUser | None


def audit_record(
    *, action: AuditEvent.Action, actor: Actor, study: Study | None, **detail: Any
) -> AuditEvent:
    """Append one event. Not idempotent: callers write one only when something changed.

    The study's name goes into the detail too, so the event still reads well if a draft
    study is deleted later (the link to it is then cleared).
    """
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    if study is not None:
        detail = {"study_name": study.name, **detail}
    return AuditEvent.objects.create(action=action, actor_id=actor_id, study=study, detail=detail)
