"""Statistics for pairwise judgments. Pure: plain numbers and numpy arrays in, numbers out.

rates.py (proportions, sign tests, Holm, the win-rate table), bradley_terry.py (Bradley–Terry
fits), strengths.py (their uncertainty and the leaderboard), effects.py (the factor-effects
logistic model), estimand.py (what their intervals are about, and the raters each needs),
agreement.py (Krippendorff's alpha, rater quality), metrics.py (metrics against people). Every public name is importable from here (stopping.py, the anytime-valid
stopping rules, is imported as its own module).

Conventions used throughout:
- A *tie* and a *both bad* vote each count half a win to either side in win rates and in the
  Bradley–Terry and factor models (neither image was preferred); they are still counted
  separately so a reader can tell "equally good" from "equally bad".
- Exact binomial tests use decisive votes only (wins against losses): a sign test.
- Strengths are on the log-odds scale: P(i beats j) = 1 / (1 + exp(θ_j − θ_i)).
"""

from __future__ import annotations

from ratings.analysis._common import FloatArray, IntArray
from ratings.analysis.agreement import (
    FLAG_TESTS,
    QualityThresholds,
    RaterQuality,
    RaterVotes,
    krippendorff_alpha_nominal,
    leave_one_out_p_values,
    panel_majority,
    rater_quality,
)
from ratings.analysis.bradley_terry import (
    BT_RIDGE,
    BTFit,
    bradley_terry,
    bradley_terry_batch,
    bt_win_probability,
    wins_matrix,
)
from ratings.analysis.effects import (
    FACTOR_RIDGE,
    FactorCoefficient,
    FactorEffects,
    FactorObservation,
    factor_effects,
)
from ratings.analysis.estimand import (
    FACTOR_MIN_RATERS,
    POPULATION,
    POPULATION_MIN_RATERS,
    THESE_RATERS,
)
from ratings.analysis.metrics import cluster_mean_interval, metric_agreement, metric_credit
from ratings.analysis.rates import (
    DETECTABLE_WIN_RATE,
    DETECTION_POWER,
    SIGNIFICANCE,
    PairTally,
    WinRateRow,
    binomial_p,
    holm,
    votes_needed,
    wilson_interval,
    win_rate_table,
)
from ratings.analysis.strengths import (
    LEADERBOARD_RIDGE,
    Leaderboard,
    PairRecord,
    PairTable,
    StrengthUncertainty,
    bt_leaderboard,
    cluster_bootstrap_strengths,
    leaderboard_uncertainty,
)

__all__ = [
    "BT_RIDGE",
    "DETECTABLE_WIN_RATE",
    "DETECTION_POWER",
    "SIGNIFICANCE",
    "FACTOR_RIDGE",
    "LEADERBOARD_RIDGE",
    "POPULATION",
    "POPULATION_MIN_RATERS",
    "THESE_RATERS",
    "FLAG_TESTS",
    "FACTOR_MIN_RATERS",
    "BTFit",
    "FactorCoefficient",
    "FactorEffects",
    "FactorObservation",
    "FloatArray",
    "IntArray",
    "Leaderboard",
    "PairRecord",
    "PairTable",
    "PairTally",
    "QualityThresholds",
    "RaterQuality",
    "RaterVotes",
    "StrengthUncertainty",
    "WinRateRow",
    "binomial_p",
    "bradley_terry",
    "bradley_terry_batch",
    "bt_leaderboard",
    "bt_win_probability",
    "cluster_bootstrap_strengths",
    "cluster_mean_interval",
    "factor_effects",
    "holm",
    "krippendorff_alpha_nominal",
    "leaderboard_uncertainty",
    "metric_agreement",
    "metric_credit",
    "panel_majority",
    "rater_quality",
    "leave_one_out_p_values",
    "votes_needed",
    "wilson_interval",
    "win_rate_table",
    "wins_matrix",
]
