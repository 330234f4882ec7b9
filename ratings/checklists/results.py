"""Reads for a checklist study's results: answers to plain rows, then ratings.analysis.checklist.

Excluded raters drop out, as everywhere in the analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from ratings.analysis import checklist as stats
from ratings.checklists.models import ChecklistAnswer, ChecklistImage, ChecklistLabel
from ratings.checklists.services import items_of, study_fields
from ratings.models import Criterion, Study
from ratings.reports import study_configs

#: The pairwise criterion whose wins a checklist's adherence is held against, when present.
ADHERENCE_CRITERION = "prompt_adherence"


@dataclass(frozen=True)
class ItemInfo:
    key: str
    label: str
    kind: str


@dataclass(frozen=True)
class Relation:
    """Adherence against one pairwise study's Bradley–Terry strengths, shared configs only."""

    study_id: int
    study_name: str
    criterion: str
    relation: stats.RankRelation
    labels: list[str]


@dataclass
class ChecklistResults:
    study: Study
    configs: dict[int, str]
    items: list[ItemInfo]
    answers: int
    raters: int
    images_answered: int
    images: int
    cells: dict[tuple[int, str], stats.Adherence]
    alpha: dict[str, float | None]
    ceiling: dict[str, stats.Agreement]
    labellers: dict[str, dict[str, stats.Agreement]] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)

    def overall(self, config: int) -> stats.Adherence | None:
        return self.cells.get((config, stats.ALL_ITEMS))

    def adherence_by_config(self) -> dict[int, float]:
        return {
            c: cell.rate
            for (c, item), cell in self.cells.items()
            if item == stats.ALL_ITEMS and cell.rate is not None
        }


def study_items(study: Study) -> list[ItemInfo]:
    """Every item the study asks about some image, terms first, in prompt order."""
    fields = study_fields(study)
    seen: dict[str, ItemInfo] = {}
    for prompt in study.prompts.order_by("id"):
        for item in items_of(prompt, fields):
            seen.setdefault(item.key, ItemInfo(item.key, item.label, item.kind))
    return sorted(seen.values(), key=lambda i: i.kind != "term")


def answer_rows(study: Study) -> list[stats.AnswerRow]:
    excluded = study.excluded_raters.values("pk")
    return [
        stats.AnswerRow(*row)
        for row in ChecklistAnswer.objects.filter(study=study)
        .exclude(rater__in=excluded)
        .values_list("rater_id", "image_id", "image__config_id", "item", "answer")
        .order_by("id")
    ]


def checklist_results(*, study: Study) -> ChecklistResults:
    rows = answer_rows(study)
    configs = {cid: info.label for cid, info in study_configs(study=study).items()}
    cells = {(c.config, c.item): c for c in stats.adherence_table(rows)}
    results = ChecklistResults(
        study=study,
        configs=configs,
        items=study_items(study),
        answers=len(rows),
        raters=len({r.rater for r in rows}),
        images_answered=len({r.image for r in rows}),
        images=ChecklistImage.objects.filter(study=study).count(),
        cells=cells,
        alpha=stats.item_alpha(rows),
        ceiling=stats.item_ceiling(rows),
    )
    labels: dict[str, dict[tuple[int, str], str]] = {}
    for name, image, item, answer in ChecklistLabel.objects.filter(study=study).values_list(
        "labeller", "image_id", "item", "answer"
    ):
        labels.setdefault(name, {})[(image, item)] = answer
    results.labellers = {
        name: stats.labeller_agreement(rows, said) for name, said in sorted(labels.items())
    }
    results.relations = _relations(study, results)
    return results


def _relations(study: Study, results: ChecklistResults) -> list[Relation]:
    from ratings.reports import study_leaderboard

    adherence = results.adherence_by_config()
    if len(adherence) < 2:
        return []
    pairwise = (
        Study.objects.filter(kind=Study.Kind.PAIRWISE, configs__in=list(adherence))
        .annotate(shared=Count("configs", filter=Q(configs__in=list(adherence)), distinct=True))
        .filter(shared__gte=2)
        .distinct()
        .order_by("-created_at")[:5]
    )
    out = []
    for other in pairwise:
        criterion = Criterion.objects.filter(study=other, key=ADHERENCE_CRITERION).first()
        board = study_leaderboard(study=other, criterion=criterion)
        strengths = {row.config_id: row.strength for row in board.rows}
        if len(set(strengths) & set(adherence)) < 2:
            continue
        relation = stats.rank_relation(adherence, strengths)
        out.append(
            Relation(
                other.pk,
                other.name,
                criterion.label if criterion else "all criteria",
                relation,
                [results.configs.get(c, f"#{c}") for c in relation.configs],
            )
        )
    return out
