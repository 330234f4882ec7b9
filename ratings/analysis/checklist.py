"""Checklist statistics, pure: answers in, numbers out (no ORM).

- Adherence of a configuration on an item: the share of "yes" among yes and no answers
  (can't tell is counted apart, never as either), with a Wilson interval. The answers to one
  image by several raters are treated as independent draws, as the pairwise win rates do.
- Agreement per item: Krippendorff's α (nominal, yes / no) over the units image × item, and
  the human ceiling: the share of agreeing pairs of people on the same unit.
- A labeller's agreement with people on an item: the share of (unit, person) pairs where the
  labeller said what the person said: the number to hold against the ceiling.
- Adherence against pairwise wins: Spearman's rank correlation over the shared configurations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ratings.analysis.agreement import krippendorff_alpha_nominal
from ratings.analysis.rates import wilson_interval

YES, NO, UNSURE = "yes", "no", "unsure"
#: Items pooled: a configuration's adherence over every item.
ALL_ITEMS = "*"


@dataclass(frozen=True)
class AnswerRow:
    rater: int
    image: int
    config: int
    item: str
    answer: str  # YES, NO or UNSURE


@dataclass(frozen=True)
class Adherence:
    config: int
    item: str  # an item key, or ALL_ITEMS
    yes: int
    no: int
    unsure: int
    rate: float | None  # yes / (yes + no); None without a yes or no
    low: float
    high: float


def adherence_table(answers: Iterable[AnswerRow]) -> list[Adherence]:
    """Adherence per configuration × item, and per configuration over all items (ALL_ITEMS)."""
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for a in answers:
        column = {YES: 0, NO: 1, UNSURE: 2}[a.answer]
        counts[(a.config, a.item)][column] += 1
        counts[(a.config, ALL_ITEMS)][column] += 1
    rows = []
    for (config, item), (yes, no, unsure) in sorted(counts.items()):
        n = yes + no
        low, high = wilson_interval(yes, n)
        rows.append(Adherence(config, item, yes, no, unsure, yes / n if n else None, low, high))
    return rows


def _units(answers: Iterable[AnswerRow]) -> dict[str, dict[int, list[int]]]:
    """item → image → [yes count, no count] (can't tell left out)."""
    units: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for a in answers:
        if a.answer in (YES, NO):
            units[a.item][a.image][0 if a.answer == YES else 1] += 1
    return units


def item_alpha(answers: Iterable[AnswerRow]) -> dict[str, float | None]:
    """Krippendorff's α per item over its images (None where undefined)."""
    return {
        item: krippendorff_alpha_nominal(np.array(list(by_image.values()), dtype=float))
        for item, by_image in _units(answers).items()
    }


@dataclass(frozen=True)
class Agreement:
    rate: float | None  # share of agreeing pairs; None without a pair
    pairs: int


def item_ceiling(answers: Iterable[AnswerRow]) -> dict[str, Agreement]:
    """Per item, the share of pairs of people answering the same image alike (yes / no)."""
    out = {}
    for item, by_image in _units(answers).items():
        same = pairs = 0
        for yes, no in by_image.values():
            same += yes * (yes - 1) // 2 + no * (no - 1) // 2
            pairs += (yes + no) * (yes + no - 1) // 2
        out[item] = Agreement(same / pairs if pairs else None, pairs)
    return out


def labeller_agreement(
    answers: Iterable[AnswerRow], labels: Mapping[tuple[int, str], str]
) -> dict[str, Agreement]:
    """Per item, the share of (image, person) pairs where the labeller (labels: (image, item)
    → YES or NO) answered as the person did; people's can't tell is left out."""
    same: dict[str, int] = defaultdict(int)
    pairs: dict[str, int] = defaultdict(int)
    for a in answers:
        said = labels.get((a.image, a.item))
        if said is None or a.answer not in (YES, NO):
            continue
        pairs[a.item] += 1
        same[a.item] += said == a.answer
    return {item: Agreement(same[item] / n, n) for item, n in pairs.items()}


@dataclass(frozen=True)
class RankRelation:
    configs: list[int]
    adherence: list[float]
    wins: list[float]
    rho: float | None  # Spearman's ρ; None with fewer than three configs or no spread
    p_value: float | None


def rank_relation(adherence: Mapping[int, float], wins: Mapping[int, float]) -> RankRelation:
    """Spearman's ρ between configurations' adherence and their pairwise win measure
    (a win rate or a Bradley–Terry strength), over the configurations both have."""
    shared = sorted(set(adherence) & set(wins))
    a = [float(adherence[c]) for c in shared]
    w = [float(wins[c]) for c in shared]
    rho = p = None
    if len(shared) >= 3 and len(set(a)) > 1 and len(set(w)) > 1:
        result = stats.spearmanr(a, w)
        rho_value, p_value = float(result.statistic), float(result.pvalue)
        if math.isfinite(rho_value):
            rho, p = rho_value, p_value
    return RankRelation(shared, a, w, rho, p)
