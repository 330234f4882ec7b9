"""The study's decision rule, checked on its counted votes: decided, or about how many more.

The votes are the leaderboard's (excluded raters, gold pairs and swapped-sides repeats left
out; a tie or "both bad" half to each side), read here in the order they were cast, which the
anytime-valid test needs (see ratings.analysis.stopping).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from django.db.models import Case, F, IntegerField, When
from django.db.models import Value as V

from ratings.analysis.stopping import DecisionRule, StoppingState, stopping_state
from ratings.models import Criterion, Judgment, Study
from ratings.reports.configs import ConfigInfo, study_configs
from ratings.reports.int_rows import int_rows
from ratings.reports.judgments import StudyVotes, _cached, study_judgments
from ratings.reports.wording import percent


@dataclass(frozen=True)
class StoppingClaim:
    """ "winner beats loser": its e-value against the threshold, raters' units, when made."""

    winner_id: int
    loser_id: int
    loser_label: str
    e_value: float
    units: int
    decided_at: int | None


@dataclass(frozen=True)
class StoppingReport:
    criterion: str | None
    rule: str
    confidence: float
    #: The confidence as shown, e.g. "95 %".
    confidence_label: str
    votes: int
    raters: int
    decided: bool
    #: The decided winner, or while undecided the configuration nearest to a decision.
    leader_id: int | None
    leader_label: str
    #: For "pair": the other configuration.
    other_id: int | None
    other_label: str
    decided_at: int | None
    more_votes: int | None
    #: The e-value each claim needs (None without a rule to check).
    threshold: float | None
    unit_sizes: list[int]
    claims: list[StoppingClaim]
    #: One sentence for the page and the API: the state.
    summary: str
    #: Why no decision can be checked (no rule, a rule that no longer fits the study), or None.
    problem: str | None

    @property
    def undecided_note(self) -> str:
        """One sentence while the study has a rule that has not decided ("" otherwise, and
        before any vote: there is no verdict to set it beside): what another report (the
        decision report) says beside a verdict of its own."""
        if self.rule == Study.DecisionRule.NONE or self.decided or not self.votes:
            return ""
        rule = f"The study's stopping rule ({self.confidence_label} anytime-valid)"
        if self.problem:
            return f"{rule} cannot be checked: {self.problem}"
        if self.more_votes is not None:
            more = f"{self.more_votes:,} more vote{'s' if self.more_votes != 1 else ''}"
            return f"{rule} has not decided yet: about {more} expected."
        return f"{rule} has not decided yet: no configuration leads yet, so no projection."


def study_stopping(*, study: Study, criterion: Criterion | None = None) -> StoppingReport:
    """The study's decision rule on the votes counted so far, for one criterion or all."""
    kind = (
        f"stop.{study.decision_rule}.{study.decision_confidence}."
        f"{study.decision_a_id}.{study.decision_b_id}"
    )
    return _cached(kind, study, criterion, lambda votes: _stopping(study, criterion, votes))


def _label(configs: dict[int, ConfigInfo], config_id: int | None) -> str:
    if config_id is None:
        return ""
    info = configs.get(config_id)
    return (info.name or info.label) if info else f"#{config_id}"


def _stopping(study: Study, criterion: Criterion | None, _votes: StudyVotes) -> StoppingReport:
    configs = study_configs(study=study)
    ids = sorted(configs)
    index = {cid: i for i, cid in enumerate(ids)}
    rule_kind = study.decision_rule
    confidence = float(study.decision_confidence)
    empty = StoppingReport(
        criterion=criterion.key if criterion else None,
        rule=rule_kind,
        confidence=confidence,
        confidence_label=percent(confidence, digits=1),
        votes=0,
        raters=0,
        decided=False,
        leader_id=None,
        leader_label="",
        other_id=None,
        other_label="",
        decided_at=None,
        more_votes=None,
        threshold=None,
        unit_sizes=[],
        claims=[],
        summary="",
        problem=None,
    )
    if rule_kind == Study.DecisionRule.NONE:
        return _with(empty, problem="No decision rule is set for this study.")
    if len(ids) < 2:
        return _with(empty, problem="A decision needs at least two configurations.")
    pair: tuple[int, int] | None = None
    if rule_kind == Study.DecisionRule.PAIR:
        a, b = study.decision_a_id, study.decision_b_id
        if a not in index or b not in index or a == b:
            return _with(
                empty,
                problem="The rule's two configurations are no longer two of the study's: "
                "choose them again on the study's settings.",
            )
        assert a is not None and b is not None
        pair = (index[a], index[b])
    rule = DecisionRule(
        kind="pair" if pair else "best",
        confidence=confidence,
        a=pair[0] if pair else None,
        b=pair[1] if pair else None,
    )
    # Integers only, in the order cast (binary COPY on PostgreSQL): rater, the two configs,
    # and the outcome (0 image a won, 1 image b, 2 tie or both bad, 3 a win for neither).
    rows = int_rows(
        study_judgments(study=study, criterion=criterion)
        .filter(comparison__is_gold=False)
        .annotate(
            code=Case(
                When(winner_id=F("comparison__image_a_id"), then=V(0)),
                When(winner_id=F("comparison__image_b_id"), then=V(1)),
                When(outcome__in=[Judgment.Outcome.TIE, Judgment.Outcome.BOTH_BAD], then=V(2)),
                default=V(3),
                output_field=IntegerField(),
            )
        )
        .order_by("id")
        .values_list(
            "rater_id", "comparison__image_a__config_id", "comparison__image_b__config_id", "code"
        ),
        4,
    )
    # A "win" for neither image of the comparison counts for neither side, as in the reports.
    rows = rows[(rows[:, 3] < 3) & np.isin(rows[:, 1], ids) & np.isin(rows[:, 2], ids)]
    score = np.array([1.0, 0.0, 0.5])[rows[:, 3]]
    item_a = np.searchsorted(ids, rows[:, 1]).astype(np.int64)
    item_b = np.searchsorted(ids, rows[:, 2]).astype(np.int64)
    rater = rows[:, 0]
    cells = study.prompts.count() * study.seeds_per_prompt
    criteria = 1 if criterion else max(1, study.criteria.count())
    state = stopping_state(
        len(ids),
        item_a,
        item_b,
        score,
        rater,
        rule=rule,
        max_votes_per_pair=max(1, cells * criteria),
    )
    return _report(study, criterion, state, ids, configs, int(np.unique(rater).size))


def _report(
    study: Study,
    criterion: Criterion | None,
    state: StoppingState,
    ids: list[int],
    configs: dict[int, ConfigInfo],
    raters: int,
) -> StoppingReport:
    leader = ids[state.leader] if state.leader is not None else None
    other = ids[state.loser] if state.loser is not None else None
    leader_label, other_label = _label(configs, leader), _label(configs, other)
    pct = percent(state.rule.confidence, digits=1)
    if state.decided and state.rule.kind == "best":
        summary = f"Decided: {leader_label} beats all others at {pct}."
    elif state.decided:
        summary = f"Decided: {leader_label} beats {other_label} at {pct}."
    elif not state.votes:
        summary = "Not decided: no votes yet."
    elif state.more_votes is not None:
        summary = f"Not decided: about {state.more_votes:,} more votes" + (
            f" for {leader_label} to beat all others at {pct}."
            if state.rule.kind == "best"
            else f" to tell {leader_label} from {other_label} at {pct}."
        )
    else:
        summary = "Not decided: no configuration leads yet, so no projection."
    return StoppingReport(
        criterion=criterion.key if criterion else None,
        rule=study.decision_rule,
        confidence=state.rule.confidence,
        confidence_label=pct,
        votes=state.votes,
        raters=raters,
        decided=state.decided,
        leader_id=leader,
        leader_label=leader_label,
        other_id=other,
        other_label=other_label,
        decided_at=state.decided_at,
        more_votes=state.more_votes,
        threshold=state.threshold,
        unit_sizes=list(state.unit_sizes),
        claims=[
            StoppingClaim(
                winner_id=ids[c.winner],
                loser_id=ids[c.loser],
                loser_label=_label(configs, ids[c.loser]),
                e_value=c.e_value,
                units=c.units,
                decided_at=c.decided_at,
            )
            for c in state.claims
        ],
        summary=summary,
        problem=None,
    )


def _with(report: StoppingReport, *, problem: str) -> StoppingReport:
    return replace(report, problem=problem, summary=problem)
