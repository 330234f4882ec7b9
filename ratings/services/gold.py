"""Gold pairs: comparisons with a known right answer that check raters' attention. Marked
automatically where the answer is obvious (5 vs 50 steps, all else equal) or by a researcher."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from generation.models import GenerationConfig
from ratings.models import Comparison, Study
from ratings.pairs import obvious_winner


def gold_mark_obvious(*, study: Study) -> int:
    """Mark comparisons with an obvious answer (5 vs 50 steps, all else equal) as gold.

    Returns how many were marked. Safe to run twice: gold pairs stay as they are, and pairs a
    researcher marked by hand are never touched.
    """
    # The answer depends on the two configurations only: decided once per pair of them.
    open_pairs = Comparison.objects.filter(study=study, is_gold=False)
    config_pairs = list(
        open_pairs.values_list("image_a__config_id", "image_b__config_id").order_by().distinct()
    )
    configs = GenerationConfig.objects.in_bulk({c for pair in config_pairs for c in pair})
    marked = 0
    with transaction.atomic():
        for a, b in config_pairs:
            winner = obvious_winner(configs[a].params(), configs[b].params())
            if winner is not None:
                marked += open_pairs.filter(image_a__config_id=a, image_b__config_id=b).update(
                    is_gold=True, gold_winner=F("image_a" if winner == "a" else "image_b")
                )
    return marked


def study_gold_missing(*, study: Study) -> bool:
    """True when the study asks for gold pairs (gold rate above 0) but has none to show. A
    checklist study has no pairs: its gold rate (the model's default) asks for nothing."""
    if study.kind == Study.Kind.CHECKLIST or study.gold_rate <= 0:
        return False
    return not Comparison.objects.filter(study=study, is_gold=True).exists()


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
