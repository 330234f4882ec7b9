"""Factor effects: each level's pull against the reference level, and the left-side bias."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import FACTOR_LABELS, level_label, study_configs, varying_levels
from ratings.reports.judgments import StudyVotes, _cached


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
    return _cached(
        "factors", study, criterion, lambda votes: _factor_effects(study, criterion, votes)
    )


def _factor_effects(
    study: Study, criterion: Criterion | None, votes: StudyVotes
) -> FactorEffectsReport:
    configs = study_configs(study=study)
    levels = varying_levels(configs)
    g = votes.grouped(votes.preference(criterion), by_prompt=False, by_rater=False, by_side=True)
    c = g.counts.astype(float)
    observations = [
        analysis.FactorObservation(a, b, left == 1, a_wins, b_wins, rest)
        for a, b, left, a_wins, b_wins, rest in zip(
            g.config_a.tolist(),
            g.config_b.tolist(),
            g.a_left.tolist(),
            c[:, 0].tolist(),
            c[:, 1].tolist(),
            (c[:, 2] + c[:, 3]).tolist(),
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
