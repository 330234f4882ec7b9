"""The pair browser: comparisons with their vote tallies, filtered and paged; and the direct
votes between one configuration and each other (the decision report's "what it beat")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from ratings.models import Comparison, Criterion, Study
from ratings.reports.judgments import StudyVotes, _version, _votes

#: Per opponent: (the configuration's wins, its losses, ties and both-bad votes).
HeadToHead = dict[int, tuple[int, int, int]]


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
    # Not StudyVotes.preference: the browser shows gold pairs' votes too (it is where a
    # researcher checks them); only excluded raters' votes are left out.
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


def study_head_to_head(
    *, study: Study, criterion: Criterion | None = None, config_id: int
) -> HeadToHead:
    """Per opponent of `config_id`: (its wins, its losses, ties and both-bad votes) on the
    votes that count for preferences (StudyVotes.preference: no gold pairs, no excluded
    raters), as the leaderboard fits them."""
    votes = _votes(study, _version(study))
    g = votes.grouped(votes.preference(criterion), by_prompt=False, by_rater=False, by_side=False)
    out: HeadToHead = {}
    for a, b, (a_wins, b_wins, ties, both_bad) in zip(
        g.config_a.tolist(), g.config_b.tolist(), g.counts.tolist(), strict=True
    ):
        if config_id not in (a, b):
            continue
        other, won, lost = (b, a_wins, b_wins) if a == config_id else (a, b_wins, a_wins)
        sw, sl, sd = out.get(other, (0, 0, 0))
        out[other] = (sw + won, sl + lost, sd + ties + both_bad)
    return out
