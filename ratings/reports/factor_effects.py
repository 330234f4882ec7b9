"""Factor effects: each level's pull against the reference level, and the left-side bias."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import FACTOR_LABELS, level_label, study_configs, varying_levels
from ratings.reports.judgments import _cached, pair_counts


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
