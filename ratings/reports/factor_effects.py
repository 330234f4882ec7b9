"""Factor effects: each level's pull against the reference level, and the left-side bias."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import FACTOR_LABELS, level_label, study_configs, varying_levels
from ratings.reports.judgments import StudyVotes, _cached
from ratings.reports.wording import FACTOR_EFFECTS, AboutRaters, IntervalModel


@dataclass(frozen=True, kw_only=True)
class FactorEffectItem(analysis.FactorCoefficient):
    """A coefficient of ratings.analysis.factor_effects with its levels as people read them.
    p_holm is adjusted over the fit's coefficients: the report's rows."""

    factor_label: str
    level_label: str
    reference_label: str


@dataclass(frozen=True)
class FactorEffectsReport(AboutRaters):
    criterion: str | None
    judgments: float
    position_bias: float | None
    position_ci_low: float | None
    position_ci_high: float | None
    #: P(the image on the left wins) between equal configurations, implied by γ.
    p_left: float | None
    rows: list[FactorEffectItem] = field(default_factory=list)
    position_se: float | None = None
    #: Raters behind the votes (the clusters of the standard errors).
    raters: int = 0
    #: analysis.POPULATION (cluster-robust by rater, t with raters − 1 df) or
    #: analysis.THESE_RATERS (fewer than FACTOR_MIN_RATERS); None without a fit.
    estimand: str | None = None
    df: float | None = None
    interval_model: ClassVar[IntervalModel] = FACTOR_EFFECTS


def study_factor_effects(
    *, study: Study, criterion: Criterion | None = None
) -> FactorEffectsReport:
    return _cached(
        "effects", study, criterion, lambda votes: _factor_effects(study, criterion, votes)
    )


def _factor_effects(
    study: Study, criterion: Criterion | None, votes: StudyVotes
) -> FactorEffectsReport:
    configs = study_configs(study=study)
    levels = varying_levels(configs)
    # Per rater: a rater's votes share their taste and their side, so they are one cluster.
    g = votes.grouped(votes.preference(criterion), by_prompt=False, by_rater=True, by_side=True)
    c = g.counts.astype(float)
    observations = [
        analysis.FactorObservation(a, b, left == 1, a_wins, b_wins, rest, rater=rater)
        for a, b, left, a_wins, b_wins, rest, rater in zip(
            g.config_a.tolist(),
            g.config_b.tolist(),
            g.a_left.tolist(),
            c[:, 0].tolist(),
            c[:, 1].tolist(),
            (c[:, 2] + c[:, 3]).tolist(),
            g.rater.tolist(),
            strict=True,
        )
    ]
    key = criterion.key if criterion else None
    if not observations or not any(levels.values()):
        return FactorEffectsReport(key, 0.0, None, None, None, None)
    reference = levels.get(study.baseline_id) if study.baseline_id else None
    fit = analysis.factor_effects(levels, observations, reference=reference)
    order = list(FACTOR_LABELS)
    rows = [
        FactorEffectItem(
            **asdict(c),
            factor_label=FACTOR_LABELS.get(c.factor, c.factor),
            level_label=level_label(c.factor, c.level),
            reference_label=level_label(c.factor, c.reference),
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
        position_se=fit.position_se,
        raters=fit.raters,
        estimand=fit.estimand,
        df=fit.df,
    )
