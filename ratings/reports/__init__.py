"""Reads for analysis: judgments aggregated in SQL into plain data for ratings.analysis.

configs.py (configurations and factor levels), judgments.py (the judgments that count, pair
counts, the report cache), then one module per report: win_rates.py, leaderboard.py,
factor_effects.py, raters.py, metrics.py (metrics against people), pairs.py (the pair browser).
Every public name is importable from here.

Rules applied everywhere here:
- raters a researcher excluded from the study are left out (from every figure);
- preference figures use first votes only; swapped-sides repeats feed self-consistency;
- gold comparisons (planted pairs with a known answer) feed rater quality, not preferences;
- a tie and a "both bad" vote each count half a win to either side (see ratings.analysis).
"""

from __future__ import annotations

from ratings.reports.configs import (
    FACTOR_LABELS,
    NO_ADAPTER,
    NO_NEGATIVE,
    OWN_VAE,
    ConfigInfo,
    config_levels,
    level_label,
    study_configs,
    varying_levels,
)
from ratings.reports.factor_effects import (
    FactorEffectItem,
    FactorEffectsReport,
    study_factor_effects,
)
from ratings.reports.judgments import (
    CACHE_SECONDS,
    CHOICES,
    DEFAULT_BOOT,
    CountRow,
    criterion_for,
    judgment_count,
    pair_counts,
    study_judgments,
)
from ratings.reports.leaderboard import (
    LeaderboardItem,
    LeaderboardReport,
    counted_pair_table,
    study_leaderboard,
    study_leaderboard_fit,
)
from ratings.reports.metrics import (
    MetricAgreementItem,
    MetricAgreementReport,
    study_metric_agreement,
)
from ratings.reports.pairs import PairItem, PairTallies, study_head_to_head, study_pair_tallies
from ratings.reports.raters import AlphaItem, RaterItem, RaterReport, study_raters
from ratings.reports.win_rates import WinRateItem, WinRateReport, study_win_rates

__all__ = [
    "CACHE_SECONDS",
    "CHOICES",
    "DEFAULT_BOOT",
    "FACTOR_LABELS",
    "NO_ADAPTER",
    "NO_NEGATIVE",
    "OWN_VAE",
    "AlphaItem",
    "ConfigInfo",
    "CountRow",
    "FactorEffectItem",
    "FactorEffectsReport",
    "LeaderboardItem",
    "LeaderboardReport",
    "MetricAgreementItem",
    "MetricAgreementReport",
    "PairItem",
    "PairTallies",
    "RaterItem",
    "RaterReport",
    "WinRateItem",
    "WinRateReport",
    "config_levels",
    "counted_pair_table",
    "criterion_for",
    "judgment_count",
    "level_label",
    "pair_counts",
    "study_configs",
    "study_factor_effects",
    "study_head_to_head",
    "study_judgments",
    "study_leaderboard",
    "study_leaderboard_fit",
    "study_metric_agreement",
    "study_pair_tallies",
    "study_raters",
    "study_win_rates",
    "varying_levels",
]
