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
            {
                "rater": ValidationError(
                    f"{rater} has not judged anything in this study: there is nothing to exclude.",
                    code="no_judgments",
                )
            }
        )
    return _excluded_set(study=study, rater=rater, actor=actor, excluded=True)


def rater_restore(*, study: Study, rater: Any, actor: Actor = None) -> bool:
    """Count the rater's judgments again. Safe to run twice (False when nothing changed)."""
    return _excluded_set(study=study, rater=rater, actor=actor, excluded=False)


def _excluded_set(*, study: Study, rater: Any, actor: Actor, excluded: bool) -> bool:
    """Add the rater to the study's excluded raters or take them out, audited; False when
    they already were where asked."""
    if study.excluded_raters.filter(pk=rater.pk).exists() == excluded:
        return False
    with transaction.atomic():
        if excluded:
            study.excluded_raters.add(rater)
        else:
            study.excluded_raters.remove(rater)
        audit_record(
            action=AuditEvent.Action.RATER_EXCLUDED
            if excluded
            else AuditEvent.Action.RATER_RESTORED,
            actor=actor,
            study=study,
            rater_id=rater.pk,
            rater=rater.get_username(),
        )
    logger.info(
        "Study %s: rater %s %s by %s",
        study.pk,
        rater.pk,
        "excluded" if excluded else "restored",
        getattr(actor, "pk", None),
    )
    return True
