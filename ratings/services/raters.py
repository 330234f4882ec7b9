"""Writes about a study's raters: leaving one out of the analysis, and bringing them back."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError

from ratings.models import Judgment, Study

logger = logging.getLogger(__name__)


def rater_exclude(*, study: Study, rater: Any, by: Any | None = None) -> bool:
    """Leave the rater's judgments out of every figure of the study (they are kept).

    Safe to run twice: returns False when the rater was already excluded. Every report
    recomputes because the cache key includes the set of excluded raters.
    """
    if not Judgment.objects.filter(comparison__study=study, rater=rater).exists():
        raise ValidationError(
            f"{rater} has not judged anything in this study: there is nothing to exclude.",
            code="no_judgments",
        )
    if study.excluded_raters.filter(pk=rater.pk).exists():
        return False
    study.excluded_raters.add(rater)
    logger.info("Study %s: rater %s excluded by %s", study.pk, rater.pk, getattr(by, "pk", None))
    return True


def rater_restore(*, study: Study, rater: Any, by: Any | None = None) -> bool:
    """Count the rater's judgments again. Safe to run twice (False when nothing changed)."""
    if not study.excluded_raters.filter(pk=rater.pk).exists():
        return False
    study.excluded_raters.remove(rater)
    logger.info("Study %s: rater %s restored by %s", study.pk, rater.pk, getattr(by, "pk", None))
    return True
