"""The decision report: per criterion, what to use, how sure, what it beat, and how to rebuild it.

Plain data read from the other reports (the Bradley–Terry leaderboard, the pair tallies, rater
quality, the configurations, the study's stopping rule): nothing is fitted here. A configuration
is *recommended* only when its 95 % rank interval is first place alone; otherwise the report
says that no configuration is ahead with confidence and shows the two leading ones side by side.
The study's anytime-valid stopping rule is a different, stricter test (each rater counts once
per pair): while it has not decided, each criterion says so beside the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generation.media import media_url
from generation.models import GenerationConfig, Image
from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import ConfigInfo, study_configs
from ratings.reports.judgments import judgment_count
from ratings.reports.leaderboard import LeaderboardItem, LeaderboardReport, study_leaderboard
from ratings.reports.pairs import study_head_to_head
from ratings.reports.raters import RaterReport, study_raters
from ratings.reports.stopping import study_stopping
from ratings.reports.wording import percent

#: Rows of the winner / runner-up grid (same prompt and seed on each row).
GRID_ROWS = 6
NO_CLEAR_WINNER = "No configuration is ahead with confidence."
#: Strengths closer than this are level: neither is said to lead.
LEVEL = 1e-6


@dataclass(frozen=True)
class Beaten:
    """The leader against one other configuration: model-implied chance and direct votes."""

    config_id: int
    label: str
    name: str
    #: Model-implied probability that the leader beats this configuration.
    p_leader_wins: float
    strength_gap: float
    #: Direct votes between the two that count (no gold pairs, no excluded raters): leader's
    #: wins, losses, ties (both-bad counted as ties).
    wins: int
    losses: int
    ties: int

    @property
    def odds_ratio(self) -> float:
        """How many times the leader's odds of winning exceed even odds, against this one."""
        return float(np.exp(self.strength_gap))


@dataclass(frozen=True)
class GridRow:
    prompt: str
    seed: int
    #: Stored names of the display derivatives (webp/jpeg), never the PNG masters.
    leader_file: str
    runner_up_file: str
    leader_url: str
    runner_up_url: str


@dataclass(frozen=True)
class CriterionDecision:
    key: str
    label: str
    question: str
    judgments: int
    raters: int
    #: True when the leader's 95 % rank interval is first place alone.
    clear: bool
    #: The recommended configuration (clear) or the one leading without confidence.
    leader: LeaderboardItem | None
    runner_up: LeaderboardItem | None
    summary: str
    estimand_note: str
    #: While the study's stopping rule is set but has not decided, the sentence that says so
    #: (StoppingReport.undecided_note); "" otherwise.
    stopping_note: str = ""
    beaten: list[Beaten] = field(default_factory=list)
    grid: list[GridRow] = field(default_factory=list)

    @property
    def recommended(self) -> LeaderboardItem | None:
        return self.leader if self.clear else None

    @property
    def headline(self) -> str:
        """NO_CLEAR_WINNER when there is no clear winner (the page shows it apart), else ""."""
        return "" if self.clear else NO_CLEAR_WINNER

    @property
    def reason(self) -> str:
        """The summary without the no-clear-winner headline (the page shows that apart)."""
        return self.summary.removeprefix(NO_CLEAR_WINNER).strip()


@dataclass(frozen=True)
class RecipeItem:
    config_id: int
    label: str
    name: str
    params: dict[str, Any]
    adapters: list[dict[str, Any]]
    #: The configuration's canonical fingerprint (settings and adapter hashes).
    fingerprint: str
    #: Library → the versions its rendered images recorded (one, unless workers differed).
    versions: dict[str, list[str]]


@dataclass(frozen=True)
class DecisionReport:
    study_id: int
    study_name: str
    design: str
    status: str
    judgments: int
    criteria: list[CriterionDecision]
    raters: RaterReport
    #: The exact recipe of every configuration named as leader or runner-up.
    recipes: list[RecipeItem]
    method: list[str]

    @property
    def empty(self) -> bool:
        return self.judgments == 0


def _summary(board: LeaderboardReport, clear: bool) -> str:
    if not board.rows:
        return "No votes on this criterion yet."
    leader = board.rows[0]
    name = leader.name or leader.label
    if clear:
        return (
            f"Use {name}: first in every plausible ranking (95 % rank interval 1–1), "
            f"P(best) {percent(leader.p_best)}."
        )
    if len(board.rows) > 1 and leader.strength - board.rows[1].strength < LEVEL:
        return (
            f"{NO_CLEAR_WINNER} The leading configurations are level on the votes so far: "
            "more votes, or a larger difference between the settings, are needed to decide."
        )
    return (
        f"{NO_CLEAR_WINNER} {name} leads (P(best) {percent(leader.p_best)}), but its 95 % rank "
        f"interval reaches place {leader.rank_high}: more votes are needed to decide."
    )


def _beaten(study: Study, criterion: Criterion, board: LeaderboardReport) -> list[Beaten]:
    leader = board.rows[0]
    probs = analysis.bt_win_probability([r.strength for r in board.rows])
    direct = study_head_to_head(study=study, criterion=criterion, config_id=leader.config_id)
    beaten = []
    for i, row in enumerate(board.rows[1:], start=1):
        wins, losses, ties = direct.get(row.config_id, (0, 0, 0))
        beaten.append(
            Beaten(
                config_id=row.config_id,
                label=row.label,
                name=row.name,
                p_leader_wins=float(probs[0, i]),
                strength_gap=leader.strength - row.strength,
                wins=wins,
                losses=losses,
                ties=ties,
            )
        )
    return beaten


def _grid(study: Study, leader_id: int, runner_id: int) -> list[GridRow]:
    images = (
        Image.objects.filter(
            config_id__in=[leader_id, runner_id],
            status=Image.Status.DONE,
            prompt__in=study.prompts.all(),
            seed__in=study.seeds(),
        )
        .exclude(display_file="")
        .select_related("prompt")
        .order_by("prompt_id", "seed")
    )
    by_key: dict[tuple[int, int], dict[int, Image]] = {}
    for image in images:
        by_key.setdefault((image.prompt_id, image.seed), {})[image.config_id] = image
    rows = []
    for pair in by_key.values():
        if leader_id in pair and runner_id in pair:
            a, b = pair[leader_id], pair[runner_id]
            rows.append(
                GridRow(
                    prompt=a.prompt.text,
                    seed=a.seed,
                    leader_file=a.display_file.name,
                    runner_up_file=b.display_file.name,
                    leader_url=media_url(a.display_file),
                    runner_up_url=media_url(b.display_file),
                )
            )
        if len(rows) == GRID_ROWS:
            break
    return rows


def _criterion_decision(study: Study, criterion: Criterion) -> CriterionDecision:
    board = study_leaderboard(study=study, criterion=criterion)
    rows = board.rows
    clear = len(rows) >= 2 and rows[0].rank_high == 1
    leader = rows[0] if rows else None
    runner = rows[1] if len(rows) > 1 else None
    return CriterionDecision(
        key=criterion.key,
        label=criterion.label,
        question=criterion.question,
        judgments=board.judgments,
        raters=board.raters,
        clear=clear,
        leader=leader,
        runner_up=runner,
        summary=_summary(board, clear),
        estimand_note=board.estimand_note,
        # The stopping report is read only where there is a rule to report on.
        stopping_note=study_stopping(study=study, criterion=criterion).undecided_note
        if study.decision_rule != Study.DecisionRule.NONE
        else "",
        beaten=_beaten(study, criterion, board) if runner else [],
        grid=_grid(study, leader.config_id, runner.config_id) if leader and runner else [],
    )


def _recipes(study: Study, configs: dict[int, ConfigInfo], ids: list[int]) -> list[RecipeItem]:
    versions: dict[int, dict[str, set[str]]] = {cid: {} for cid in ids}
    rendered = Image.objects.filter(
        config_id__in=ids, status=Image.Status.DONE, prompt__in=study.prompts.all()
    ).values_list("config_id", "versions")
    for cid, found in rendered:
        for library, version in (found or {}).items():
            versions[cid].setdefault(library, set()).add(str(version))
    prints = dict(
        GenerationConfig.objects.filter(pk__in=ids).values_list("pk", "fingerprint")  # type: ignore[misc]
    )
    out = []
    for cid in ids:
        info = configs[cid]
        params = {k: v for k, v in info.params.items() if k != "adapters"}
        out.append(
            RecipeItem(
                config_id=cid,
                label=info.label,
                name=info.name,
                params=params,
                adapters=list(info.params.get("adapters", [])),
                fingerprint=prints.get(cid, ""),
                versions={lib: sorted(v) for lib, v in sorted(versions[cid].items())},
            )
        )
    return out


def _method(study: Study, raters: RaterReport) -> list[str]:
    prompts, seeds = study.prompts.count(), study.seeds_per_prompt
    return [
        "Raters were shown two images of the same prompt and seed, made by two configurations, "
        "with the sides drawn at random, and answered one question per criterion (or called a "
        "tie, or both bad). They never saw which configuration made which image.",
        "Only first votes count: gold pairs (known answers, used to check raters), swapped-side "
        "repeats and the votes of raters a researcher excluded "
        f"({raters.excluded or 'none'} here) are left out. A tie or “both bad” counts half to "
        "each side.",
        "A Bradley–Terry model turns the votes into one strength per configuration; the "
        "intervals are 95 % intervals and P(best) is the share of plausible strength draws in "
        "which a configuration comes first.",
        "A configuration is recommended only when it is first in every plausible ranking (its "
        "95 % rank interval is 1–1); otherwise the report says no configuration is ahead with "
        "confidence.",
        f"Design: {study.get_design_display()}; {prompts} prompt{'s' if prompts != 1 else ''}"
        f" × {seeds} seed{'s' if seeds != 1 else ''} per prompt.",
    ]


def study_decision(*, study: Study) -> DecisionReport:
    """The decision report of a study: one decision per criterion, raters, method and recipes."""
    criteria = [_criterion_decision(study, c) for c in study.criteria.all()]
    configs = study_configs(study=study)
    named: list[int] = []
    for d in criteria:
        for item in (d.leader, d.runner_up):
            if item is not None and item.config_id not in named:
                named.append(item.config_id)
    raters = study_raters(study=study)
    return DecisionReport(
        study_id=study.pk,
        study_name=study.name,
        design=study.get_design_display(),
        status=study.get_status_display(),
        judgments=judgment_count(study=study),
        criteria=criteria,
        raters=raters,
        recipes=_recipes(study, configs, named),
        method=_method(study, raters),
    )
