"""Serializers of the analysis API: one per report of ratings.reports, with the help text
that documents each figure in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ratings import analysis
from ratings.reports.wording import percent

_ESTIMAND = (
    f"{analysis.POPULATION}: about raters in general (enough raters; intervals clustered by "
    f"rater, t with raters − 1 df); {analysis.THESE_RATERS}: about these raters' votes only "
    "(too few raters to generalise); null without a fit. Prompts: these."
)


# A row about one level of one factor (a setting that varies across configurations). A
# comment, not a docstring: the schema would show it as each row's description.
class FactorLevelSerializer(serializers.Serializer[Any]):
    factor = serializers.CharField()
    factor_label = serializers.CharField()
    level = serializers.CharField()
    level_label = serializers.CharField()


class WinRateRowSerializer(FactorLevelSerializer):
    wins = serializers.FloatField()
    losses = serializers.FloatField()
    ties = serializers.FloatField()
    both_bad = serializers.FloatField(help_text="Counted half a win each way, like a tie.")
    votes = serializers.FloatField()
    win_rate = serializers.FloatField(allow_null=True, help_text="Ties and both-bad count half.")
    ci_low = serializers.FloatField(help_text="Wilson 95 % interval.")
    ci_high = serializers.FloatField()
    p_value = serializers.FloatField(help_text="Exact binomial test, decisive votes, against 50 %.")
    p_holm = serializers.FloatField(
        help_text="Holm-adjusted over the table's contrasts (a two-level factor is one)."
    )
    votes_needed = serializers.IntegerField(
        help_text=f"More decisive votes needed to detect a {percent(analysis.DETECTABLE_WIN_RATE)}"
        f" win rate (α {analysis.SIGNIFICANCE:g}, power {analysis.DETECTION_POWER:g})."
    )
    significant = serializers.BooleanField(
        help_text=f"p_holm below the significance level {analysis.SIGNIFICANCE:g}."
    )
    confounded_share = serializers.FloatField()
    descriptive = serializers.BooleanField(
        help_text="Some votes come from comparisons differing in more than this factor."
    )


class WinRateReportSerializer(serializers.Serializer[Any]):
    criterion = serializers.CharField(allow_null=True)
    judgments = serializers.IntegerField()
    detect_win_rate = serializers.FloatField()
    contrasts = serializers.IntegerField(help_text="The family Holm's adjustment ran over.")
    rows = WinRateRowSerializer(many=True)


# A configuration as the reports name it: id, label (what differs from the baseline), name.
# (A comment, not a docstring: drf-spectacular would give it to every subclass's schema.)
class ConfigRefSerializer(serializers.Serializer[Any]):
    config_id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]
    name = serializers.CharField()


class LeaderboardRowSerializer(ConfigRefSerializer):
    strength = serializers.FloatField(
        help_text="Bradley–Terry log-strength; strengths are centred (they sum to zero)."
    )
    se = serializers.FloatField(help_text="Standard error of the strength (see estimand).")
    ci_low = serializers.FloatField(
        help_text="95 % interval: t with `df` degrees of freedom, or normal when df is null."
    )
    ci_high = serializers.FloatField()
    rank = serializers.IntegerField()
    rank_low = serializers.IntegerField(help_text="95 % rank interval, same uncertainty.")
    rank_high = serializers.IntegerField()
    p_best = serializers.FloatField(
        help_text="Probability of being best, from draws of the same uncertainty."
    )
    judgments = serializers.FloatField()
    p_vs_baseline = serializers.FloatField(allow_null=True)


class LeaderboardReportSerializer(serializers.Serializer[Any]):
    criterion = serializers.CharField(allow_null=True)
    judgments = serializers.IntegerField()
    raters = serializers.IntegerField()
    prompts = serializers.IntegerField()
    n_boot = serializers.IntegerField(help_text="Draws behind the ranks and P(best).")
    baseline_id = serializers.IntegerField(allow_null=True)
    estimand = serializers.CharField(allow_null=True, help_text=_ESTIMAND)
    estimand_note = serializers.CharField(help_text="What the intervals are about, in words.")
    df = serializers.FloatField(allow_null=True)
    min_raters = serializers.IntegerField(
        help_text="Raters needed for intervals about raters in general."
    )
    rows = LeaderboardRowSerializer(many=True)


class FactorEffectRowSerializer(FactorLevelSerializer):
    reference = serializers.CharField()
    reference_label = serializers.CharField()
    beta = serializers.FloatField(help_text="Log-odds effect of this level against the reference.")
    se = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    p_vs_baseline = serializers.FloatField(
        help_text="Model-implied P(baseline with this level beats the baseline)."
    )
    p_low = serializers.FloatField()
    p_high = serializers.FloatField()
    p_value = serializers.FloatField(help_text="Two-sided test of β = 0.")
    p_holm = serializers.FloatField(help_text="Holm-adjusted over the report's rows.")


class FactorEffectsReportSerializer(serializers.Serializer[Any]):
    criterion = serializers.CharField(allow_null=True)
    judgments = serializers.FloatField()
    position_bias = serializers.FloatField(allow_null=True, help_text="γ: log-odds of the left.")
    position_ci_low = serializers.FloatField(allow_null=True)
    position_ci_high = serializers.FloatField(allow_null=True)
    p_left = serializers.FloatField(allow_null=True)
    position_se = serializers.FloatField(allow_null=True)
    raters = serializers.IntegerField(help_text="Raters behind the votes: the SE's clusters.")
    estimand = serializers.CharField(allow_null=True, help_text=_ESTIMAND)
    estimand_note = serializers.CharField(help_text="What the intervals are about, in words.")
    df = serializers.IntegerField(allow_null=True)
    min_raters = serializers.IntegerField(
        help_text="Raters needed for intervals about raters in general (CR2: fewer than the "
        "leaderboard's)."
    )
    rows = FactorEffectRowSerializer(many=True)


class RaterRowSerializer(serializers.Serializer[Any]):
    rater_id = serializers.IntegerField()
    username = serializers.CharField()
    excluded = serializers.BooleanField()
    judgments = serializers.IntegerField()
    median_ms = serializers.FloatField(allow_null=True)
    fast_share = serializers.FloatField()
    decisive = serializers.IntegerField()
    left_rate = serializers.FloatField(allow_null=True)
    left_p = serializers.FloatField(allow_null=True, help_text="Side-bias test (see tests).")
    repeats = serializers.IntegerField()
    flip_rate = serializers.FloatField(allow_null=True)
    gold = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    agreement_n = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())
    flip_p = serializers.FloatField(allow_null=True)
    gold_p = serializers.FloatField(allow_null=True)
    agreement_p = serializers.FloatField(allow_null=True)
    fast_p = serializers.FloatField(allow_null=True)


class FlagTestSerializer(serializers.Serializer[Any]):
    flag = serializers.CharField()
    test = serializers.CharField()


class AlphaSerializer(serializers.Serializer[Any]):
    criterion = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's α, nominal.")
    units = serializers.IntegerField()


class RaterReportSerializer(serializers.Serializer[Any]):
    rows = RaterRowSerializer(many=True)
    alpha = AlphaSerializer(many=True)
    self_agreement = serializers.FloatField(allow_null=True)
    flagged = serializers.IntegerField()
    excluded = serializers.IntegerField()
    tests = FlagTestSerializer(many=True)
    flag_level = serializers.FloatField(help_text="Each flag's test runs at this level.")


class MetricAgreementRowSerializer(serializers.Serializer[Any]):
    metric = serializers.CharField()
    configured = serializers.BooleanField(help_text="In LOUPE_SCORERS now.")
    model_path = serializers.CharField()
    scored_images = serializers.IntegerField()
    votes = serializers.IntegerField(help_text="Votes on pairs whose two images both have a score.")
    agreement = serializers.FloatField(
        allow_null=True,
        help_text="Share of votes whose winner the metric scores higher; ties count half.",
    )
    ci_low = serializers.FloatField(allow_null=True, help_text="95 % bootstrap over comparisons.")
    ci_high = serializers.FloatField(allow_null=True)


class MetricAgreementReportSerializer(serializers.Serializer[Any]):
    criterion = serializers.CharField(allow_null=True)
    judgments = serializers.IntegerField()
    images = serializers.IntegerField(help_text="Rendered images in the study.")
    ceiling = serializers.FloatField(
        allow_null=True,
        help_text="Tie-aware agreement of raters' first votes with their swapped-sides repeats.",
    )
    ceiling_low = serializers.FloatField(allow_null=True)
    ceiling_high = serializers.FloatField(allow_null=True)
    ceiling_repeats = serializers.IntegerField()
    n_boot = serializers.IntegerField()
    rows = MetricAgreementRowSerializer(many=True)


class RaterActionSerializer(serializers.Serializer[Any]):
    excluded = serializers.BooleanField()
    changed = serializers.BooleanField()


class StoppingClaimSerializer(serializers.Serializer[Any]):
    winner_id = serializers.IntegerField()
    loser_id = serializers.IntegerField()
    loser_label = serializers.CharField()
    e_value = serializers.FloatField(help_text="Evidence for the claim; decided at `threshold`.")
    units = serializers.IntegerField(help_text="Raters' units counted (one per rater and size).")
    decided_at = serializers.IntegerField(
        allow_null=True, help_text="Votes counted when the claim was made."
    )


class StoppingReportSerializer(serializers.Serializer[Any]):
    criterion = serializers.CharField(allow_null=True)
    rule = serializers.CharField(help_text="none, best or pair: the study's decision rule.")
    confidence = serializers.FloatField()
    confidence_label = serializers.CharField()
    votes = serializers.IntegerField()
    raters = serializers.IntegerField()
    decided = serializers.BooleanField()
    leader_id = serializers.IntegerField(
        allow_null=True, help_text="The decided winner, or the configuration nearest to it."
    )
    leader_label = serializers.CharField()
    other_id = serializers.IntegerField(allow_null=True, help_text="For 'pair': the other one.")
    other_label = serializers.CharField()
    decided_at = serializers.IntegerField(allow_null=True)
    more_votes = serializers.IntegerField(
        allow_null=True,
        help_text="Projected further votes to a decision if new votes look like these so far.",
    )
    threshold = serializers.FloatField(allow_null=True)
    unit_sizes = serializers.ListField(child=serializers.IntegerField())
    claims = StoppingClaimSerializer(many=True)
    summary = serializers.CharField()
    problem = serializers.CharField(allow_null=True)
