"""Gold pairs: comparisons with a known right answer that check raters' attention. Marked
automatically where the answer is obvious (5 vs 50 steps, all else equal) or by a researcher."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ratings.models import Comparison, Study
from ratings.pairs import obvious_winner


def gold_mark_obvious(*, study: Study) -> int:
    """Mark comparisons with an obvious answer (5 vs 50 steps, all else equal) as gold.

    Returns how many were marked. Safe to run twice: gold pairs stay as they are, and pairs a
    researcher marked by hand are never touched.
    """
    marked = 0
    rows = Comparison.objects.filter(study=study, is_gold=False).select_related(
        "image_a__config", "image_b__config"
    )
    with transaction.atomic():
        for comparison in rows:
            winner = obvious_winner(
                comparison.image_a.config.params(), comparison.image_b.config.params()
            )
            if winner is None:
                continue
            comparison.is_gold = True
            comparison.gold_winner_id = (
                comparison.image_a_id if winner == "a" else comparison.image_b_id
            )
            comparison.save(update_fields=["is_gold", "gold_winner"])
            marked += 1
    return marked


def study_gold_missing(*, study: Study) -> bool:
    """True when the study asks for gold pairs (gold rate above 0) but has none to show."""
    return study.gold_rate > 0 and not Comparison.objects.filter(study=study, is_gold=True).exists()


def comparison_gold_set(*, study: Study, comparison_id: int, winner: str) -> Comparison:
    """Mark a pair of the study as gold with its right answer ("a" or "b"), or unmark it ("none").

    Safe to run twice: the pair ends as asked either way.
    """
    if winner not in ("a", "b", "none"):
        raise ValidationError({"winner": "Say which image is right: a, b, or none (not gold)."})
    comparison = Comparison.objects.filter(study=study, pk=comparison_id).first()
    if comparison is None:
        raise ValidationError({"comparison": "No such pair in this study."})
    comparison.is_gold = winner != "none"
    comparison.gold_winner_id = {"a": comparison.image_a_id, "b": comparison.image_b_id}.get(winner)
    comparison.save(update_fields=["is_gold", "gold_winner"])
    return comparison
