"""Writes about a study's raters: leaving one out of the analysis, and bringing them back."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ratings.models import AuditEvent, Judgment, Study
from ratings.services.audit import Actor, audit_record

logger = logging.getLogger(__name__)


def rater_exclude(*, study: Study, rater: Any, actor: Actor = None) -> bool:
    """Leave the rater's judgments out of every figure of the study (they are kept).

    Safe to run twice: returns False when the rater was already excluded. Every report
    recomputes because the cache key includes the set of excluded raters. Audited.
    """
    if not Judgment.objects.filter(comparison__study=study, rater=rater).exists():
        raise ValidationError(
            f"{rater} has not judged anything in this study: there is nothing to exclude.",
            code="no_judgments",
        )
    if study.excluded_raters.filter(pk=rater.pk).exists():
        return False
    with transaction.atomic():
        study.excluded_raters.add(rater)
        audit_record(
            action=AuditEvent.Action.RATER_EXCLUDED,
            actor=actor,
            study=study,
            rater_id=rater.pk,
            rater=rater.get_username(),
        )
    logger.info("Study %s: rater %s excluded by %s", study.pk, rater.pk, getattr(actor, "pk", None))
    return True


def rater_restore(*, study: Study, rater: Any, actor: Actor = None) -> bool:
    """Count the rater's judgments again. Safe to run twice (False when nothing changed)."""
    if not study.excluded_raters.filter(pk=rater.pk).exists():
        return False
    with transaction.atomic():
        study.excluded_raters.remove(rater)
        audit_record(
            action=AuditEvent.Action.RATER_RESTORED,
            actor=actor,
            study=study,
            rater_id=rater.pk,
            rater=rater.get_username(),
        )
    logger.info("Study %s: rater %s restored by %s", study.pk, rater.pk, getattr(actor, "pk", None))
    return True
