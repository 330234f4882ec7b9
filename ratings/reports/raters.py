"""Rater quality: per-rater figures and flags, Krippendorff's alpha, self-agreement."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import Count, F, OuterRef, Q

from ratings import analysis
from ratings.models import Criterion, Judgment, Study
from ratings.reports.judgments import _cached, _choice_expr


@dataclass(frozen=True)
class RaterItem:
    rater_id: int
    username: str
    excluded: bool
    judgments: int
    median_ms: float | None
    fast_share: float
    decisive: int
    left_rate: float | None
    left_p: float
    repeats: int
    flip_rate: float | None
    gold: int
    gold_accuracy: float | None
    agreement_n: int
    agreement: float | None
    flags: list[str]


@dataclass(frozen=True)
class AlphaItem:
    criterion: str
    label: str
    alpha: float | None
    units: int


@dataclass(frozen=True)
class RaterReport:
    rows: list[RaterItem]
    alpha: list[AlphaItem]
    #: Agreement of raters with themselves on swapped repeats: the ceiling for any metric.
    self_agreement: float | None
    flagged: int
    excluded: int


def study_raters(*, study: Study) -> RaterReport:
    return _cached("raters", study, None, lambda: _raters(study))


def _raters(study: Study) -> RaterReport:
    excluded = set(study.excluded_raters.values_list("id", flat=True))
    first = (
        Judgment.objects.filter(comparison__study=study, is_repeat=False)
        .annotate(choice=_choice_expr())
        .values_list(
            "rater_id",
            "comparison_id",
            "criterion_id",
            "choice",
            "winner_id",
            "presentation__left_id",
            "response_ms",
            "flagged_fast",
            "comparison__is_gold",
            "comparison__gold_winner_id",
        )
        .order_by()
    )
    per: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in first.iterator(chunk_size=5000):
        per[row[0]].append(row)
    first_choice = Judgment.objects.filter(
        comparison_id=OuterRef("comparison_id"),
        rater_id=OuterRef("rater_id"),
        criterion_id=OuterRef("criterion_id"),
        is_repeat=False,
    ).annotate(choice=_choice_expr())
    repeats = (
        Judgment.objects.filter(comparison__study=study, is_repeat=True)
        .annotate(choice=_choice_expr(), first=first_choice.values("choice")[:1])
        .filter(first__isnull=False)
        .values("rater_id")
        .annotate(n=Count("id"), flips=Count("id", filter=~Q(choice=F("first"))))
        .order_by()
    )
    repeat_stats = {r["rater_id"]: (r["n"], r["flips"]) for r in repeats}
    criteria = list(Criterion.objects.filter(study=study))
    n_crit = max([c.pk for c in criteria], default=0) + 1
    votes = []
    for rater_id, mine in per.items():
        arr = np.array([r[:4] for r in mine], dtype=np.int64)
        winner = np.array([r[4] or 0 for r in mine], dtype=np.int64)
        left = np.array([r[5] for r in mine], dtype=np.int64)
        gold = np.array(
            [
                (1.0 if r[4] is not None and r[4] == r[9] else 0.0) if r[8] and r[9] else np.nan
                for r in mine
            ]
        )
        n_rep, flips = repeat_stats.get(rater_id, (0, 0))
        votes.append(
            analysis.RaterVotes(
                rater=rater_id,
                unit=arr[:, 1] * n_crit + arr[:, 2],
                choice=arr[:, 3],
                chose_left=winner == left,
                response_ms=np.array(
                    [np.nan if r[6] is None else float(r[6]) for r in mine], dtype=float
                ),
                fast=np.array([bool(r[7]) for r in mine]),
                gold_correct=gold,
                repeat_pairs=n_rep,
                repeat_flips=flips,
            )
        )
    panel = [v for v in votes if v.rater not in excluded]
    quality = analysis.rater_quality(votes, panel=panel)
    names = dict(
        get_user_model().objects.filter(pk__in=per).values_list("pk", "username")  # type: ignore[misc]
    )
    rows = [
        RaterItem(
            rater_id=q.rater,
            username=names.get(q.rater, str(q.rater)),
            excluded=q.rater in excluded,
            judgments=q.judgments,
            median_ms=q.median_ms,
            fast_share=q.fast_share,
            decisive=q.decisive,
            left_rate=q.left_rate,
            left_p=q.left_p,
            repeats=q.repeats,
            flip_rate=q.flip_rate,
            gold=q.gold,
            gold_accuracy=q.gold_accuracy,
            agreement_n=q.agreement_n,
            agreement=q.agreement,
            flags=list(q.flags),
        )
        for q in quality
    ]
    rows.sort(key=lambda r: (r.excluded, -len(r.flags), r.username))
    alpha = []
    for c in criteria:
        unit = np.concatenate([v.unit for v in panel]) if panel else np.zeros(0, dtype=np.int64)
        choice = np.concatenate([v.choice for v in panel]) if panel else np.zeros(0, dtype=np.int64)
        mask = unit % n_crit == c.pk
        _, counts = analysis.panel_majority(unit[mask], choice[mask])
        alpha.append(
            AlphaItem(
                criterion=c.key,
                label=c.label,
                alpha=analysis.krippendorff_alpha_nominal(counts),
                units=int((counts.sum(axis=1) >= 2).sum()),
            )
        )
    n_rep = sum(v.repeat_pairs for v in panel)
    flips = sum(v.repeat_flips for v in panel)
    return RaterReport(
        rows=rows,
        alpha=alpha,
        self_agreement=1 - flips / n_rep if n_rep else None,
        flagged=sum(1 for r in rows if r.flags and not r.excluded),
        excluded=len(excluded & set(per)),
    )
