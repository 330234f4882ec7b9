"""Streaming export of a best-of-N study's judgments, with the scorer each pair tests.

One line per judgment and role: a pick pair (scorer's top candidate against a random one) gives
one line per scorer whose pair it is, with `pick_credit` (1 the pick won, 0 it lost, ½ a tie
or both bad); a tournament pair gives a line with role `tournament` and no scorer. A pair that
is both gives both lines, so count judgments by `judgment_id`. Raters appear under the same
pseudonyms as in the study's other exports; excluded raters are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse

from ratings.export import column_lines, export_response
from ratings.export.cells import CHUNK, rater_pseudonym
from ratings.models import RerankCandidate, RerankPick, Study
from ratings.reports.judgments import study_judgments

COLUMNS = (
    "judgment_id", "study_id", "comparison_id", "role", "scorer", "prompt_id", "prompt",
    "criterion", "rater", "image_a_id", "image_b_id", "seed_a", "seed_b", "pick_image_id",
    "left_image_id", "outcome", "winner_image_id", "pick_credit", "is_repeat", "response_ms",
    "flagged_fast", "created_at",
)  # fmt: skip


def rerank_records(*, study: Study) -> Iterator[dict[str, Any]]:
    """One dict per judgment and role, oldest judgment first."""
    picks: dict[int, list[tuple[str, int]]] = {}
    for comparison_id, scorer, pick_id in RerankPick.objects.filter(study=study).values_list(
        "comparison_id", "scorer", "pick_id"
    ):
        picks.setdefault(comparison_id, []).append((scorer, pick_id))
    members = set(
        RerankCandidate.objects.filter(study=study, in_tournament=True).values_list(
            "image_id", flat=True
        )
    )
    pseudonyms: dict[int, str] = {}
    rows = (
        study_judgments(study=study, repeats=True)
        .values_list(
            "pk",
            "comparison_id",
            "comparison__prompt_id",
            "comparison__prompt__text",
            "criterion__key",
            "rater_id",
            "comparison__image_a_id",
            "comparison__image_b_id",
            "comparison__image_a__seed",
            "comparison__image_b__seed",
            "presentation__left_id",
            "outcome",
            "winner_id",
            "is_repeat",
            "response_ms",
            "flagged_fast",
            "created_at",
        )  # fmt: skip
        .order_by("pk")
    )
    for (
        pk, comparison_id, prompt_id, prompt, criterion, rater_id, a, b, seed_a, seed_b, left,
        outcome, winner, is_repeat, response_ms, flagged_fast, created_at,
    ) in rows.iterator(chunk_size=CHUNK):  # fmt: skip
        if rater_id not in pseudonyms:
            pseudonyms[rater_id] = rater_pseudonym(study_id=study.pk, rater_id=rater_id)
        common = {
            "judgment_id": pk, "study_id": study.pk, "comparison_id": comparison_id,
            "prompt_id": prompt_id, "prompt": prompt, "criterion": criterion,
            "rater": pseudonyms[rater_id], "image_a_id": a, "image_b_id": b, "seed_a": seed_a,
            "seed_b": seed_b, "left_image_id": left, "outcome": outcome,
            "winner_image_id": winner, "is_repeat": is_repeat, "response_ms": response_ms,
            "flagged_fast": flagged_fast, "created_at": created_at.isoformat(),
        }  # fmt: skip
        for scorer, pick in picks.get(comparison_id, ()):
            credit = (1.0 if winner == pick else 0.0) if outcome == "win" else 0.5
            yield {**common, "role": "pick", "scorer": scorer, "pick_image_id": pick,
                   "pick_credit": credit}  # fmt: skip
        if a in members and b in members:
            yield {**common, "role": "tournament", "scorer": "", "pick_image_id": None,
                   "pick_credit": None}  # fmt: skip


def rerank_export_response(study: Study, fmt: str) -> StreamingHttpResponse:
    """The streamed export (the page and the API share it)."""
    lines = column_lines(rerank_records(study=study), COLUMNS, fmt)
    return export_response(lines, fmt=fmt, filename=f"rerank-study-{study.pk}.{fmt}")
