"""Reads for analysis: judgments aggregated in SQL into plain data for ratings.analysis.

Rules applied everywhere here:
- raters a researcher excluded from the study are left out (from every figure);
- preference figures use first votes only; swapped-sides repeats feed self-consistency;
- gold comparisons (planted pairs with a known answer) feed rater quality, not preferences;
- a tie and a "both bad" vote each count half a win to either side (see ratings.analysis).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Case, Count, F, IntegerField, Max, OuterRef, Q, QuerySet, When
from django.db.models import Value as V

from generation.constants import SAMPLERS
from generation.models import GenerationConfig, Image, ImageScore
from generation.selectors import study_images
from ratings import analysis
from ratings.models import Comparison, Criterion, Judgment, Study

T = TypeVar("T")

#: Factor key → the name a researcher reads.
FACTOR_LABELS: dict[str, str] = {
    "sampler": "Sampler",
    "steps": "Steps",
    "cfg": "CFG",
    "compel_level": "Compel level",
    "negative_prompt": "Negative prompt",
    "adapters": "Adapters and scales",
    "vae": "VAE",
    "base_model": "Base model",
    "size": "Size",
    "insert_trigger": "Trigger token",
}
NO_ADAPTER = "(none)"
OWN_VAE = "(model's own)"
NO_NEGATIVE = "(none)"
CHOICES = ("a", "b", "tie", "both_bad")
DEFAULT_BOOT = 200
CACHE_SECONDS = 600


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class ConfigInfo:
    id: int
    label: str
    name: str
    params: dict[str, Any]
    levels: dict[str, str]


def config_levels(config: GenerationConfig) -> dict[str, str]:
    """A config's level of each factor, as short strings (adapters must be prefetched)."""
    links = sorted(config.adapter_links.all(), key=lambda link: link.adapter.name)
    return {
        "sampler": config.sampler,
        "steps": str(config.steps),
        "cfg": f"{config.cfg:g}",
        "compel_level": config.compel_level,
        "negative_prompt": " ".join(config.negative_prompt.split()) or NO_NEGATIVE,
        "adapters": " + ".join(f"{link.adapter.name}×{link.scale:g}" for link in links)
        or NO_ADAPTER,
        "vae": config.vae or OWN_VAE,
        "base_model": config.base_model,
        "size": f"{config.width}×{config.height}",
        "insert_trigger": "on" if config.insert_trigger else "off",
    }


def level_label(factor: str, level: str) -> str:
    if factor == "sampler":
        return SAMPLERS.get(level, level)
    return level


def study_configs(*, study: Study) -> dict[int, ConfigInfo]:
    """Every configuration in the study's comparisons, with parameters and factor levels."""
    configs = (
        GenerationConfig.objects.filter(
            Q(studies=study)
            | Q(images__in=Comparison.objects.filter(study=study).values("image_a"))
            | Q(images__in=Comparison.objects.filter(study=study).values("image_b"))
        )
        .distinct()
        .prefetch_related("adapter_links__adapter")
        .order_by("id")
    )
    out = {}
    for c in configs:
        params = {
            **c.params(),
            "adapters": [
                {"adapter": link.adapter.name, "sha256": link.adapter.sha256, "scale": link.scale}
                for link in c.adapter_links.all()
            ],
        }
        out[c.pk] = ConfigInfo(
            id=c.pk, label=c.label, name=c.name, params=params, levels=config_levels(c)
        )
    return out


def varying_levels(configs: dict[int, ConfigInfo]) -> dict[int, dict[str, str]]:
    """Only the factors that take more than one level in the study."""
    factors = [f for f in FACTOR_LABELS if len({info.levels[f] for info in configs.values()}) > 1]
    return {cid: {f: info.levels[f] for f in factors} for cid, info in configs.items()}


# --------------------------------------------------------------------------- judgments


def criterion_for(*, study: Study, key: str | None) -> Criterion | None:
    """The study's criterion with this key; None (all criteria together) for a blank key.

    Raises Criterion.DoesNotExist for an unknown key.
    """
    if not key:
        return None
    return Criterion.objects.get(study=study, key=key)


def study_judgments(
    *, study: Study, criterion: Criterion | None = None, repeats: bool = False
) -> QuerySet[Judgment]:
    """Judgments of the study that count: excluded raters left out; first votes by default."""
    qs = Judgment.objects.filter(comparison__study=study).exclude(
        rater__in=study.excluded_raters.all()
    )
    if not repeats:
        qs = qs.filter(is_repeat=False)
    if criterion is not None:
        qs = qs.filter(criterion=criterion)
    return qs


def _preference_judgments(study: Study, criterion: Criterion | None) -> QuerySet[Judgment]:
    return study_judgments(study=study, criterion=criterion).filter(comparison__is_gold=False)


@dataclass(frozen=True)
class CountRow:
    config_a: int
    config_b: int
    rater: int
    prompt: int
    a_left: bool
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int


def pair_counts(*, study: Study, criterion: Criterion | None = None) -> list[CountRow]:
    """First votes grouped by config pair × rater × prompt × side, counted in SQL."""
    image_a, image_b = F("comparison__image_a_id"), F("comparison__image_b_id")
    rows = (
        _preference_judgments(study, criterion)
        .annotate(
            a_left=Case(
                When(presentation__left_id=image_a, then=V(1)),
                default=V(0),
                output_field=IntegerField(),
            )
        )
        .values(
            "a_left",
            "rater_id",
            ca=F("comparison__image_a__config_id"),
            cb=F("comparison__image_b__config_id"),
            prompt=F("comparison__prompt_id"),
        )
        .annotate(
            a=Count("id", filter=Q(winner_id=image_a)),
            b=Count("id", filter=Q(winner_id=image_b)),
            t=Count("id", filter=Q(outcome=Judgment.Outcome.TIE)),
            bb=Count("id", filter=Q(outcome=Judgment.Outcome.BOTH_BAD)),
        )
        .order_by()
    )
    return [
        CountRow(
            config_a=r["ca"],
            config_b=r["cb"],
            rater=r["rater_id"],
            prompt=r["prompt"],
            a_left=bool(r["a_left"]),
            a_wins=r["a"],
            b_wins=r["b"],
            ties=r["t"],
            both_bad=r["bb"],
        )
        for r in rows
    ]


def _version(study: Study) -> str:
    """Changes whenever a vote lands or the set of excluded raters changes."""
    stats = Judgment.objects.filter(comparison__study=study).aggregate(n=Count("id"), m=Max("id"))
    excluded = sorted(study.excluded_raters.values_list("id", flat=True))
    return f"{stats['n']}.{stats['m']}.{'-'.join(map(str, excluded))}"


def _cached(kind: str, study: Study, criterion: Criterion | None, compute: Callable[[], T]) -> T:
    key = (
        f"loupe:analysis:{kind}:{study.pk}:{criterion.pk if criterion else 'all'}:{_version(study)}"
    )
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, CACHE_SECONDS)
    return found  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class WinRateItem:
    factor: str
    factor_label: str
    level: str
    level_label: str
    wins: float
    losses: float
    ties: float
    both_bad: float
    votes: float
    win_rate: float | None
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    votes_needed: int
    confounded_share: float
    descriptive: bool


@dataclass(frozen=True)
class WinRateReport:
    criterion: str | None
    judgments: int
    detect_win_rate: float
    rows: list[WinRateItem]


def study_win_rates(*, study: Study, criterion: Criterion | None = None) -> WinRateReport:
    return _cached("win", study, criterion, lambda: _win_rates(study, criterion))


def _win_rates(study: Study, criterion: Criterion | None) -> WinRateReport:
    configs = study_configs(study=study)
    levels = varying_levels(configs)
    sums: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0] * 4)
    for r in pair_counts(study=study, criterion=criterion):
        s = sums[(r.config_a, r.config_b)]
        s[0] += r.a_wins
        s[1] += r.b_wins
        s[2] += r.ties
        s[3] += r.both_bad
    tallies = [analysis.PairTally(a, b, *s) for (a, b), s in sums.items()]
    rows = [
        WinRateItem(
            factor=r.factor,
            factor_label=FACTOR_LABELS.get(r.factor, r.factor),
            level=r.level,
            level_label=level_label(r.factor, r.level),
            wins=r.wins,
            losses=r.losses,
            ties=r.ties,
            both_bad=r.both_bad,
            votes=r.votes,
            win_rate=r.win_rate,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            p_value=r.p_value,
            p_holm=r.p_holm,
            votes_needed=r.votes_needed,
            confounded_share=r.confounded_share,
            descriptive=r.descriptive,
        )
        for r in analysis.win_rate_table(levels, tallies)
    ]
    order = list(FACTOR_LABELS)
    rows.sort(key=lambda r: order.index(r.factor) if r.factor in order else len(order))
    return WinRateReport(
        criterion=criterion.key if criterion else None,
        judgments=int(sum(sum(s) for s in sums.values())),
        detect_win_rate=analysis.DETECTABLE_WIN_RATE,
        rows=rows,
    )


@dataclass(frozen=True)
class LeaderboardItem:
    config_id: int
    label: str
    name: str
    strength: float
    ci_low: float
    ci_high: float
    rank: int
    rank_low: int
    rank_high: int
    p_best: float
    judgments: float
    #: Model-implied chance of beating the study's baseline (None for the baseline itself).
    p_vs_baseline: float | None


@dataclass(frozen=True)
class LeaderboardReport:
    criterion: str | None
    judgments: int
    raters: int
    prompts: int
    n_boot: int
    baseline_id: int | None
    rows: list[LeaderboardItem]


def study_leaderboard(
    *, study: Study, criterion: Criterion | None = None, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> LeaderboardReport:
    return _cached(
        f"bt{n_boot}.{seed}", study, criterion, lambda: _leaderboard(study, criterion, n_boot, seed)
    )


def _leaderboard(
    study: Study, criterion: Criterion | None, n_boot: int, seed: int
) -> LeaderboardReport:
    configs = study_configs(study=study)
    counts = pair_counts(study=study, criterion=criterion)
    ids = sorted(configs)
    index = {cid: i for i, cid in enumerate(ids)}
    merged: dict[tuple[int, int, int, int], list[float]] = defaultdict(lambda: [0.0] * 3)
    for r in counts:
        m = merged[(r.config_a, r.config_b, r.rater, r.prompt)]
        m[0] += r.a_wins
        m[1] += r.b_wins
        m[2] += r.ties + r.both_bad
    records = [
        analysis.PairRecord(index[a], index[b], rater, prompt, *m)
        for (a, b, rater, prompt), m in merged.items()
    ]
    total = int(sum(sum(m) for m in merged.values()))
    if not records or len(ids) < 2:
        return LeaderboardReport(
            criterion=criterion.key if criterion else None,
            judgments=total,
            raters=0,
            prompts=0,
            n_boot=0,
            baseline_id=study.baseline_id,
            rows=[],
        )
    board = analysis.bt_leaderboard(
        len(ids), records, n_boot=n_boot, rng=np.random.default_rng(seed)
    )
    base = index.get(study.baseline_id) if study.baseline_id else None
    probs = analysis.bt_win_probability(board.strengths)
    rows = [
        LeaderboardItem(
            config_id=cid,
            label=configs[cid].label,
            name=configs[cid].name,
            strength=float(board.strengths[i]),
            ci_low=float(board.ci_low[i]),
            ci_high=float(board.ci_high[i]),
            rank=int(board.rank[i]),
            rank_low=int(board.rank_low[i]),
            rank_high=int(board.rank_high[i]),
            p_best=float(board.p_best[i]),
            judgments=float(board.votes[i]),
            p_vs_baseline=None if base is None or base == i else float(probs[i, base]),
        )
        for cid, i in index.items()
    ]
    rows.sort(key=lambda r: r.rank)
    return LeaderboardReport(
        criterion=criterion.key if criterion else None,
        judgments=total,
        raters=len({r.rater for r in records}),
        prompts=len({r.prompt for r in records}),
        n_boot=n_boot,
        baseline_id=study.baseline_id,
        rows=rows,
    )


@dataclass(frozen=True)
class FactorEffectItem:
    factor: str
    factor_label: str
    level: str
    level_label: str
    reference: str
    reference_label: str
    beta: float
    se: float
    ci_low: float
    ci_high: float
    p_vs_baseline: float
    p_low: float
    p_high: float


@dataclass(frozen=True)
class FactorEffectsReport:
    criterion: str | None
    judgments: float
    position_bias: float | None
    position_ci_low: float | None
    position_ci_high: float | None
    #: P(the image on the left wins) between equal configurations, implied by γ.
    p_left: float | None
    rows: list[FactorEffectItem] = field(default_factory=list)


def study_factor_effects(
    *, study: Study, criterion: Criterion | None = None
) -> FactorEffectsReport:
    return _cached("factors", study, criterion, lambda: _factor_effects(study, criterion))


def _factor_effects(study: Study, criterion: Criterion | None) -> FactorEffectsReport:
    configs = study_configs(study=study)
    levels = varying_levels(configs)
    merged: dict[tuple[int, int, bool], list[float]] = defaultdict(lambda: [0.0] * 3)
    for r in pair_counts(study=study, criterion=criterion):
        m = merged[(r.config_a, r.config_b, r.a_left)]
        m[0] += r.a_wins
        m[1] += r.b_wins
        m[2] += r.ties + r.both_bad
    observations = [
        analysis.FactorObservation(a, b, left, *m) for (a, b, left), m in merged.items()
    ]
    key = criterion.key if criterion else None
    if not observations or not any(levels.values()):
        return FactorEffectsReport(key, 0.0, None, None, None, None)
    reference = levels.get(study.baseline_id) if study.baseline_id else None
    fit = analysis.factor_effects(levels, observations, reference=reference)
    order = list(FACTOR_LABELS)
    rows = [
        FactorEffectItem(
            factor=c.factor,
            factor_label=FACTOR_LABELS.get(c.factor, c.factor),
            level=c.level,
            level_label=level_label(c.factor, c.level),
            reference=c.reference,
            reference_label=level_label(c.factor, c.reference),
            beta=c.beta,
            se=c.se,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            p_vs_baseline=c.p_vs_baseline,
            p_low=c.p_low,
            p_high=c.p_high,
        )
        for c in sorted(fit.coefficients, key=lambda c: order.index(c.factor))
    ]
    return FactorEffectsReport(
        criterion=key,
        judgments=fit.votes,
        position_bias=fit.position_bias,
        position_ci_low=fit.position_ci[0],
        position_ci_high=fit.position_ci[1],
        p_left=1 / (1 + float(np.exp(-fit.position_bias))),
        rows=rows,
    )


# --------------------------------------------------------------------------- raters


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


def _choice_expr() -> Case:
    return Case(
        When(winner_id=F("comparison__image_a_id"), then=V(0)),
        When(winner_id=F("comparison__image_b_id"), then=V(1)),
        When(outcome=Judgment.Outcome.TIE, then=V(2)),
        default=V(3),
        output_field=IntegerField(),
    )


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


# --------------------------------------------------------------------------- metrics vs people


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
    #: what a person's own second look achieves, the practical ceiling for a metric. (The raters
    #: section's self-agreement counts exact matches of all four outcomes instead.)
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
        lambda: _metric_agreement(study, criterion, configured, n_boot, seed),
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


def _metric_agreement(
    study: Study, criterion: Criterion | None, configured: dict[str, str], n_boot: int, seed: int
) -> MetricAgreementReport:
    groups = list(
        _preference_judgments(study, criterion)
        .annotate(choice=_choice_expr())
        .values(
            "comparison_id", "choice", a=F("comparison__image_a_id"), b=F("comparison__image_b_id")
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    comparison = np.array([g["comparison_id"] for g in groups], dtype=np.int64)
    # A "both bad" vote is a tie for a metric: neither image preferred.
    choice = np.minimum(np.array([g["choice"] for g in groups], dtype=np.int64), 2)
    votes = np.array([g["n"] for g in groups], dtype=float)
    image_a = [g["a"] for g in groups]
    image_b = [g["b"] for g in groups]

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

    first_choice = Judgment.objects.filter(
        comparison_id=OuterRef("comparison_id"),
        rater_id=OuterRef("rater_id"),
        criterion_id=OuterRef("criterion_id"),
        is_repeat=False,
    ).annotate(choice=_choice_expr())
    repeats = list(
        study_judgments(study=study, criterion=criterion, repeats=True)
        .filter(is_repeat=True, comparison__is_gold=False)
        .annotate(choice=_choice_expr(), first=first_choice.values("choice")[:1])
        .filter(first__isnull=False)
        .values("comparison_id", "choice", "first")
        .annotate(n=Count("id"))
        .order_by()
    )
    again = np.array([r["choice"] for r in repeats], dtype=np.int64)
    # The repeat plays the metric: it "scores" the image it picked higher, and ties both.
    ceiling, ceiling_low, ceiling_high = _agreement(
        np.array([r["comparison_id"] for r in repeats], dtype=np.int64),
        (again == 0).astype(float),
        (again == 1).astype(float),
        np.minimum(np.array([r["first"] for r in repeats], dtype=np.int64), 2),
        np.array([r["n"] for r in repeats], dtype=float),
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
        ceiling_repeats=int(sum(r["n"] for r in repeats)),
        n_boot=n_boot,
        rows=rows,
    )


# --------------------------------------------------------------------------- pair browser


@dataclass(frozen=True)
class PairItem:
    comparison: Comparison
    config_a: int
    config_b: int
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int


def study_pairs(
    *,
    study: Study,
    criterion: Criterion | None = None,
    config_id: int | None = None,
    outcome: str | None = None,
    limit: int = 24,
    offset: int = 0,
) -> tuple[list[PairItem], int]:
    """Comparisons with their vote tallies, filtered by config and outcome; (page, total).

    outcome: "a" / "b" (that side has more wins), "tie", "both_bad" (at least one such vote),
    "split" (both sides won at least once).
    """
    votes = Q(judgments__is_repeat=False) & ~Q(judgments__rater__in=study.excluded_raters.all())
    if criterion is not None:
        votes &= Q(judgments__criterion=criterion)
    qs = (
        Comparison.objects.filter(study=study)
        .select_related("prompt", "image_a", "image_b")
        .annotate(
            a=Count("judgments", filter=votes & Q(judgments__winner_id=F("image_a_id"))),
            b=Count("judgments", filter=votes & Q(judgments__winner_id=F("image_b_id"))),
            t=Count("judgments", filter=votes & Q(judgments__outcome=Judgment.Outcome.TIE)),
            bb=Count("judgments", filter=votes & Q(judgments__outcome=Judgment.Outcome.BOTH_BAD)),
        )
        .filter(Q(a__gt=0) | Q(b__gt=0) | Q(t__gt=0) | Q(bb__gt=0))
    )
    if config_id is not None:
        qs = qs.filter(Q(image_a__config_id=config_id) | Q(image_b__config_id=config_id))
    if outcome == "a":
        qs = qs.filter(a__gt=F("b"))
    elif outcome == "b":
        qs = qs.filter(b__gt=F("a"))
    elif outcome == "tie":
        qs = qs.filter(t__gt=0)
    elif outcome == "both_bad":
        qs = qs.filter(bb__gt=0)
    elif outcome == "split":
        qs = qs.filter(a__gt=0, b__gt=0)
    total = qs.count()
    page = [
        PairItem(
            comparison=c,
            config_a=c.image_a.config_id,
            config_b=c.image_b.config_id,
            a_wins=c.a,  # type: ignore[attr-defined]
            b_wins=c.b,  # type: ignore[attr-defined]
            ties=c.t,  # type: ignore[attr-defined]
            both_bad=c.bb,  # type: ignore[attr-defined]
        )
        for c in qs.order_by("id")[offset : offset + limit]
    ]
    return page, total
