"""Rows the database keeps by triggers (never written by the application): a comparison's
exposure, for the deal's "fewest first", and the per-rater vote tally that versions the
analysis cache. Models of the ratings app (ratings.models re-exports them)."""

from __future__ import annotations

from django.db import models

from ratings.models import Comparison


class PairExposure(models.Model):
    """How many raters were shown a comparison first (repeats and skipped ones apart).

    "Fewest first" reads this one number per pair instead of counting presentations on every
    deal. Kept by database triggers on Presentation (migration 0004_perf), so it stays exact
    whatever writes or deletes a presentation; never written by the application. A missing
    row means none.
    """

    comparison = models.OneToOneField(
        Comparison, primary_key=True, on_delete=models.CASCADE, related_name="exposure"
    )
    shown = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Comparison {self.comparison_id} shown {self.shown}×"


class VoteTally(models.Model):
    """How often each rater's judgments in a study changed: the analysis cache's version.

    A report's cache key needs something that moves on every judgment written, changed or
    deleted (an undo, a cascade). Counting a big study's judgments on each page view costs
    a scan; summing these few rows does not. One row per study and rater, so concurrent raters
    never wait on each other's row. Kept by database triggers on Judgment (migration
    0006_vote_tally); never written by the application. Plain integer keys, no foreign keys:
    the triggers fire while cascades delete studies and users, in any order, and a row left
    behind for a deleted study is harmless.
    """

    study_id = models.BigIntegerField()
    rater_id = models.BigIntegerField()
    changes = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study_id", "rater_id"], name="vote_tally_key")
        ]

    def __str__(self) -> str:
        return f"Study {self.study_id}, rater {self.rater_id}: {self.changes} changes"
