"""Rater quality: per-rater figures and flags, Krippendorff's alpha, repeat consistency."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from django.contrib.auth import get_user_model

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.judgments import StudyVotes, _cached


@dataclass(frozen=True, kw_only=True)
class RaterItem(analysis.RaterQuality):
    """A rater's ratings.analysis.rater_quality with their name and whether they are excluded."""

    username: str
    excluded: bool

    @property
    def rater_id(self) -> int:
        return self.rater


@dataclass(frozen=True)
class FlagTest:
    flag: str
    test: str


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
    #: Repeat consistency: the share of swapped-sides repeats answered exactly as the first
    #: time (all four outcomes, every criterion, gold pairs included; excluded raters left
    #: out). A figure of rater quality, not a ceiling: the ceiling for a metric is
    #: reports.metrics' tie-aware `ceiling`. (Named self_agreement in the API.)
    self_agreement: float | None
    flagged: int
    excluded: int
    #: Each flag's test; every one runs at level `flag_level`, so an honest rater is flagged
    #: by any of them with probability at most len(tests) × flag_level.
    tests: list[FlagTest] = field(default_factory=list)
    flag_level: float = 0.01

    @property
    def any_flag_level(self) -> float:
        """Bonferroni: the most often any one flag is raised on an honest rater."""
        return min(1.0, len(self.tests) * self.flag_level)


def study_raters(*, study: Study) -> RaterReport:
    return _cached("raters", study, None, lambda votes: _raters(study, votes))


def _raters(study: Study, table: StudyVotes) -> RaterReport:
    excluded = set(study.excluded_raters.values_list("id", flat=True))
    criteria = list(Criterion.objects.filter(study=study))
    n_crit = max([c.pk for c in criteria], default=0) + 1
    # Per first vote (every rater, gold pairs included), in CHOICES' codes.
    unit = table.comparison_id[table.comparison] * n_crit + table.criterion
    choice = np.minimum(table.code, 3)
    gold = np.where(
        table.is_gold[table.comparison] & table.has_gold_winner[table.comparison],
        table.gold_right.astype(float),
        np.nan,
    )
    # Swapped-sides repeats that have a first vote to compare with.
    paired = table.repeat_first >= 0
    repeat_raters, repeat_n = np.unique(table.repeat_rater[paired], return_counts=True)
    flipped = table.repeat_choice[paired] != table.repeat_first[paired]
    flip_counts = np.bincount(
        np.searchsorted(repeat_raters, table.repeat_rater[paired]),
        weights=flipped,
        minlength=repeat_raters.size,
    )
    repeat_stats = {
        r: (n, int(f))
        for r, n, f in zip(
            repeat_raters.tolist(), repeat_n.tolist(), flip_counts.tolist(), strict=True
        )
    }
    order = np.argsort(table.rater, kind="stable")
    raters, starts = np.unique(table.rater[order], return_index=True)
    votes = []
    for rater_id, mine in zip(
        raters.tolist(), np.split(order, starts[1:]) if raters.size else [], strict=True
    ):
        n_rep, flips_n = repeat_stats.get(rater_id, (0, 0))
        votes.append(
            analysis.RaterVotes(
                rater=rater_id,
                unit=unit[mine],
                choice=choice[mine],
                chose_left=table.chose_left[mine],
                response_ms=table.response_ms[mine],
                fast=table.fast[mine],
                gold_correct=gold[mine],
                repeat_pairs=n_rep,
                repeat_flips=flips_n,
            )
        )
    per = set(raters.tolist())
    panel = [v for v in votes if v.rater not in excluded]
    thresholds = analysis.QualityThresholds()
    quality = analysis.rater_quality(votes, thresholds, panel=panel)
    names = dict(
        get_user_model().objects.filter(pk__in=per).values_list("pk", "username")  # type: ignore[misc]
    )
    rows = [
        RaterItem(
            **asdict(q),
            username=names.get(q.rater, str(q.rater)),
            excluded=q.rater in excluded,
        )
        for q in quality
    ]
    rows.sort(key=lambda r: (r.excluded, -len(r.flags), r.username))
    alpha = []
    in_panel = ~np.isin(table.rater, list(excluded))
    for c in criteria:
        mask = in_panel & (table.criterion == c.pk)
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
        tests=[FlagTest(flag, test) for flag, test in analysis.FLAG_TESTS.items()],
        flag_level=thresholds.alpha,
    )
