"""Metrics against people: how often each automatic metric picks the human winner."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from generation.models import Image, ImageScore
from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.judgments import DEFAULT_BOOT, StudyVotes, _cached
from ratings.selectors import study_images


@dataclass(frozen=True)
class MetricAgreementItem:
    metric: str
    #: In LOUPE_SCORERS now (scores stored by a scorer since removed are still reported).
    configured: bool
    model_path: str
    scored_images: int
    #: Human votes on pairs whose two images both have this metric's score.
    votes: int
    #: Share of those votes whose winner the metric scores higher; human ties, and metric ties,
    #: count half (ratings.analysis.metric_agreement).
    agreement: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class MetricAgreementReport:
    criterion: str | None
    #: Preference votes (first votes, no gold pairs, excluded raters left out).
    judgments: int
    images: int
    #: The same tie-aware agreement between a rater's first vote and their swapped-sides repeat:
    #: what a person's own second look achieves, the practical ceiling for a metric: the one
    #: figure called a ceiling. (The raters section's repeat consistency is another figure: exact
    #: matches of all four outcomes, gold pairs included, every criterion.)
    ceiling: float | None
    ceiling_low: float | None
    ceiling_high: float | None
    ceiling_repeats: int
    n_boot: int
    rows: list[MetricAgreementItem]


def study_metric_agreement(
    *, study: Study, criterion: Criterion | None = None, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> MetricAgreementReport:
    """Per metric, how often it picks the human winner, beside the human ceiling.

    Intervals are 95 % percentile bootstraps resampling comparisons (votes on one pair are not
    independent). Cached like the other reports, and recomputed when new scores land.
    """
    configured = dict(settings.LOUPE_SCORERS)
    images = study_images(study_id=study.pk)
    stamp = ImageScore.objects.filter(image__in=images).aggregate(n=Count("id"), m=Max("id"))
    kind = f"metrics{n_boot}.{seed}.{stamp['n']}.{stamp['m']}.{','.join(sorted(configured))}"
    return _cached(
        kind,
        study,
        criterion,
        lambda votes: _metric_agreement(study, criterion, votes, configured, n_boot, seed),
    )


def _cluster_credit(
    comparison: np.ndarray, credit: np.ndarray, votes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Credit and votes summed per comparison (the bootstrap's clusters)."""
    _, index = np.unique(comparison, return_inverse=True)
    return np.bincount(index, weights=credit), np.bincount(index, weights=votes)


def _agreement(
    comparison: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    choice: np.ndarray,
    votes: np.ndarray,
    n_boot: int,
    seed: int,
) -> tuple[float | None, float | None, float | None]:
    """(agreement, ci_low, ci_high) over vote groups that each share one outcome."""
    if votes.sum() == 0:
        return None, None, None
    credit = analysis.metric_credit(score_a, score_b, choice) * votes
    sums, counts = _cluster_credit(comparison, credit, votes)
    interval = analysis.cluster_mean_interval(
        sums, counts, n_boot=n_boot, rng=np.random.default_rng(seed)
    )
    low, high = interval if interval is not None else (None, None)
    return float(credit.sum() / votes.sum()), low, high


def _groups(keys: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the key columns (small non-negative-ish integers), and their counts."""
    if not keys[0].size:
        return [k[:0] for k in keys], np.zeros(0, dtype=float)
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - low + 1 for k, low in zip(keys, lows, strict=True)]
    code = np.zeros(keys[0].size, dtype=np.int64)
    for k, low, span in zip(keys, lows, spans, strict=True):
        code = code * span + (k - low)
    distinct, counts = np.unique(code, return_counts=True)
    columns = []
    for low, span in zip(reversed(lows), reversed(spans), strict=True):
        columns.append(distinct % span + low)
        distinct = distinct // span
    return columns[::-1], counts.astype(float)


def _metric_agreement(
    study: Study,
    criterion: Criterion | None,
    table: StudyVotes,
    configured: dict[str, str],
    n_boot: int,
    seed: int,
) -> MetricAgreementReport:
    mask = table.preference(criterion)
    # A "both bad" vote is a tie for a metric: neither image preferred.
    (at, choice), votes = _groups([table.comparison[mask], np.minimum(table.code[mask], 2)])
    comparison = table.comparison_id[at]
    image_a = table.image_a[at].tolist()
    image_b = table.image_b[at].tolist()

    values: dict[str, dict[int, float]] = defaultdict(dict)
    paths: dict[str, str] = {}
    images = study_images(study_id=study.pk)
    for metric, image_id, value, path in ImageScore.objects.filter(image__in=images).values_list(
        "metric", "image_id", "value", "model_path"
    ):
        values[metric][image_id] = value
        paths.setdefault(metric, path)
    rows = []
    for metric in sorted(set(configured) | set(values)):
        scored = values.get(metric, {})
        a = np.array([scored.get(i, np.nan) for i in image_a], dtype=float)
        b = np.array([scored.get(i, np.nan) for i in image_b], dtype=float)
        both = ~np.isnan(a) & ~np.isnan(b)
        agreement, low, high = _agreement(
            comparison[both], a[both], b[both], choice[both], votes[both], n_boot, seed
        )
        rows.append(
            MetricAgreementItem(
                metric=metric,
                configured=metric in configured,
                model_path=configured.get(metric) or paths.get(metric, ""),
                scored_images=len(scored),
                votes=int(votes[both].sum()),
                agreement=agreement,
                ci_low=low,
                ci_high=high,
            )
        )

    # Swapped-sides repeats with a first vote to compare with, counted like preferences.
    keep = (
        (table.repeat_first >= 0) & ~table.is_gold[table.repeat_comparison] & ~table.repeat_excluded
    )
    if criterion is not None:
        keep &= table.repeat_criterion == criterion.pk
    (repeat_at, again, first), repeat_votes = _groups(
        [table.repeat_comparison[keep], table.repeat_choice[keep], table.repeat_first[keep]]
    )
    # The repeat plays the metric: it "scores" the image it picked higher, and ties both.
    ceiling, ceiling_low, ceiling_high = _agreement(
        table.comparison_id[repeat_at],
        (again == 0).astype(float),
        (again == 1).astype(float),
        np.minimum(first, 2),
        repeat_votes,
        n_boot,
        seed,
    )
    return MetricAgreementReport(
        criterion=criterion.key if criterion else None,
        judgments=int(votes.sum()),
        images=images.filter(status=Image.Status.DONE).count(),
        ceiling=ceiling,
        ceiling_low=ceiling_low,
        ceiling_high=ceiling_high,
        ceiling_repeats=int(repeat_votes.sum()),
        n_boot=n_boot,
        rows=rows,
    )
