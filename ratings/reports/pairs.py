"""The pair browser: comparisons with their vote tallies, filtered and paged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from ratings.models import Comparison, Criterion, Study
from ratings.reports.judgments import StudyVotes, _version, _votes


@dataclass(frozen=True)
class PairItem:
    comparison: Comparison
    config_a: int
    config_b: int
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int


class PairTallies(Sequence[PairItem]):
    """The chosen comparisons with their tallies, in comparison id order: counted without a
    query, and each slice loads only its own comparisons (what Django's Paginator asks)."""

    def __init__(
        self, votes: StudyVotes, chosen: np.ndarray, tallies: tuple[np.ndarray, ...]
    ) -> None:
        self._votes, self._chosen, self._tallies = votes, chosen, tallies

    def __len__(self) -> int:
        return int(self._chosen.size)

    @overload
    def __getitem__(self, index: int) -> PairItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[PairItem]: ...

    def __getitem__(self, index: int | slice) -> PairItem | list[PairItem]:
        if isinstance(index, slice):
            return self._items(self._chosen[index].tolist())
        return self._items([int(self._chosen[index])])[0]

    def head_to_head(self, config_id: int) -> dict[int, tuple[int, int, int]]:
        """Per opponent of `config_id` over the chosen pairs: (its wins, its losses, ties and
        both-bad votes), summed from the tallies alone (no comparison loads)."""
        votes, rows = self._votes, self._chosen
        a, b, t, bb = (x[rows] for x in self._tallies)
        config_a, config_b = votes.config_a[rows], votes.config_b[rows]
        out: dict[int, tuple[int, int, int]] = {}
        for mine, theirs, won, lost in ((config_a, config_b, a, b), (config_b, config_a, b, a)):
            here = mine == config_id
            for other, w, lo, d in zip(
                theirs[here].tolist(),
                won[here].tolist(),
                lost[here].tolist(),
                (t + bb)[here].tolist(),
                strict=True,
            ):
                sw, sl, sd = out.get(other, (0, 0, 0))
                out[other] = (sw + w, sl + lo, sd + d)
        return out

    def _items(self, rows: list[int]) -> list[PairItem]:
        votes = self._votes
        a, b, t, bb = self._tallies
        found = Comparison.objects.select_related("prompt", "image_a", "image_b").in_bulk(
            votes.comparison_id[rows].tolist()
        )
        return [
            PairItem(
                comparison=found[int(votes.comparison_id[i])],
                config_a=int(votes.config_a[i]),
                config_b=int(votes.config_b[i]),
                a_wins=int(a[i]),
                b_wins=int(b[i]),
                ties=int(t[i]),
                both_bad=int(bb[i]),
            )
            for i in rows
        ]


def study_pair_tallies(
    *,
    study: Study,
    criterion: Criterion | None = None,
    config_id: int | None = None,
    outcome: str | None = None,
) -> PairTallies:
    """Comparisons with their vote tallies, filtered by config and outcome.

    outcome: "a" / "b" (that side has more wins), "tie", "both_bad" (at least one such vote),
    "split" (both sides won at least once), "all" (every pair, judged or not: gold is marked
    before anyone votes). Page it with Django's Paginator: only a page's comparisons load.
    """
    votes = _votes(study, _version(study))
    counted = ~votes.excluded
    if criterion is not None:
        counted &= votes.criterion == criterion.pk
    n = votes.comparison_id.size
    a, b, t, bb = (
        np.bincount(votes.comparison[counted & (votes.code == k)], minlength=n) for k in range(4)
    )
    keep = (a > 0) | (b > 0) | (t > 0) | (bb > 0) | (outcome == "all")
    if config_id is not None:
        keep &= (votes.config_a == config_id) | (votes.config_b == config_id)
    if outcome == "a":
        keep &= a > b
    elif outcome == "b":
        keep &= b > a
    elif outcome == "tie":
        keep &= t > 0
    elif outcome == "both_bad":
        keep &= bb > 0
    elif outcome == "split":
        keep &= (a > 0) & (b > 0)
    return PairTallies(votes, np.flatnonzero(keep), (a, b, t, bb))
