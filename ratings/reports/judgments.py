"""The judgments that count, read once per study version, and the cache every report sits behind.

Cached reports are keyed on a version of the study's votes (VoteTally's count of changes to its
judgments, kept by triggers, and the excluded raters), so a new vote, an undo or an exclusion
makes them stale without any explicit invalidation.

Every report reads the same thing: the study's votes, one row per judgment. They are read in
one query per version (a few integers per judgment, joined and coded in SQL) into numpy arrays
(`StudyVotes`), which the process keeps for the latest version of one study while the
version's cache entry lives: the dashboard's reports, each criterion and all criteria together
then share one read instead of each aggregating the judgments again.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from django.db.models import Case, IntegerField, QuerySet, Sum, When
from django.db.models import Value as V
from django.db.models.functions import Coalesce

from evalsite.cache import cache_get, cache_set
from ratings.analysis import FloatArray, IntArray
from ratings.models import Comparison, Criterion, Judgment, Presentation, Study, VoteTally
from ratings.reports.int_rows import int_rows

T = TypeVar("T")

#: The four outcomes, in the order of their codes in StudyVotes (0 a, 1 b, 2 tie, 3 both bad).
CHOICES = ("a", "b", "tie", "both_bad")
DEFAULT_BOOT = 200
CACHE_SECONDS = 600


def criterion_for(*, study: Study, key: str | None) -> Criterion | None:
    """The study's criterion with this key; None (all criteria together) for a blank key.

    Raises Criterion.DoesNotExist for an unknown key.
    """
    if not key:
        return None
    if "\x00" in key:
        # PostgreSQL refuses NUL in a query, and no key (a slug) holds one.
        raise Criterion.DoesNotExist(f"No criterion {key!r} in study {study.pk}.")
    return Criterion.objects.get(study=study, key=key)


def study_judgments(
    *, study: Study, criterion: Criterion | None = None, repeats: bool = False
) -> QuerySet[Judgment]:
    """Judgments of the study that count: excluded raters left out; first votes by default."""
    qs = Judgment.objects.filter(comparison__study=study).exclude(
        rater__in=study.excluded_raters.all()
    )
    if not repeats:
        qs = qs.filter(is_repeat=False)
    if criterion is not None:
        qs = qs.filter(criterion=criterion)
    return qs


@dataclass(frozen=True)
class CountRow:
    config_a: int
    config_b: int
    rater: int
    prompt: int
    a_left: bool
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int


def _flag(**lookup: object) -> Case:
    return Case(When(then=V(1), **lookup), default=V(0), output_field=IntegerField())


# --------------------------------------------------------------------------- the study's votes


@dataclass(frozen=True)
class Grouped:
    """Votes summed per config pair (× prompt) (× rater) (× side); -1 where not grouped by it."""

    config_a: IntArray
    config_b: IntArray
    prompt: IntArray
    rater: IntArray
    a_left: IntArray  # 1 / 0
    #: (groups, 4): image a won, image b won, ties, both bad.
    counts: IntArray


@dataclass(frozen=True)
class StudyVotes:
    """A study's judgments as arrays: first votes one entry each, swapped repeats apart.

    Per comparison (sorted by id): ids, images, configurations, prompt, gold flags.
    Per first vote: the comparison (an index into those), rater, criterion, outcome code
    (0 a, 1 b, 2 tie, 3 both bad, 4 a win for neither image), whether image a sat on the left,
    whether the rater chose the left image, whether they chose the gold winner, response ms
    (NaN unknown), flagged fast. Per repeat: comparison index, rater, criterion, its choice and
    the rater's first choice (CHOICES' codes; -1 where there is no first vote).
    Raters the study excludes are in, flagged by `excluded`: the rater report judges them too.
    """

    comparison_id: IntArray
    image_a: IntArray
    image_b: IntArray
    config_a: IntArray
    config_b: IntArray
    prompt: IntArray
    is_gold: np.ndarray
    has_gold_winner: np.ndarray
    comparison: IntArray
    rater: IntArray
    criterion: IntArray
    code: IntArray
    a_left: np.ndarray
    chose_left: np.ndarray
    gold_right: np.ndarray
    response_ms: FloatArray
    fast: np.ndarray
    excluded: np.ndarray
    repeat_comparison: IntArray
    repeat_rater: IntArray
    repeat_criterion: IntArray
    repeat_choice: IntArray
    repeat_first: IntArray
    repeat_excluded: np.ndarray

    def preference(self, criterion: Criterion | None) -> np.ndarray:
        """First votes that count for preferences: no gold pairs, no excluded raters."""
        mask = ~self.is_gold[self.comparison] & ~self.excluded
        if criterion is not None:
            mask &= self.criterion == criterion.pk
        return mask

    def grouped(
        self, mask: np.ndarray, *, by_prompt: bool, by_rater: bool, by_side: bool
    ) -> Grouped:
        """Outcome counts of the masked first votes per config pair and the chosen keys."""
        comparison = self.comparison[mask]
        pairs = np.stack([self.config_a, self.config_b, *([self.prompt] if by_prompt else [])])
        # Comparisons sharing the grouped keys (seeds, and prompts if not grouped) are one.
        _, cell_of = np.unique(pairs, axis=1, return_inverse=True)
        key = cell_of.reshape(-1)[comparison].astype(np.int64)
        rater = self.rater[mask]
        if by_rater:
            raters, rater_index = np.unique(rater, return_inverse=True)
            key = key * max(raters.size, 1) + rater_index.reshape(-1)
        a_left = self.a_left[mask]
        if by_side:
            key = key * 2 + a_left
        groups, first, index = np.unique(key, return_index=True, return_inverse=True)
        index = index.reshape(-1)
        code = self.code[mask]
        counts = np.stack(
            [np.bincount(index[code == k], minlength=groups.size) for k in range(4)], axis=-1
        ).reshape(groups.size, 4)
        at = comparison[first]
        none = np.full(groups.size, -1, dtype=np.int64)
        return Grouped(
            config_a=self.config_a[at],
            config_b=self.config_b[at],
            prompt=self.prompt[at] if by_prompt else none,
            rater=rater[first] if by_rater else none,
            a_left=a_left[first].astype(np.int64) if by_side else none,
            counts=counts.astype(np.int64),
        )


#: Bits of the small integer read per judgment: its kind (a win, a tie, both bad) and two flags.
_TIE, _BOTH_BAD, _FAST, _REPEAT = 1, 2, 4, 8


def _load_votes(study: Study) -> StudyVotes:
    comparisons = list(
        Comparison.objects.filter(study=study)
        .order_by("id")
        .values_list(
            "id",
            "image_a_id",
            "image_b_id",
            "image_a__config_id",
            "image_b__config_id",
            "prompt_id",
            "is_gold",
            "gold_winner_id",
        )
    )
    comp = np.array(
        [(*c[:6], bool(c[6]), -1 if c[7] is None else c[7]) for c in comparisons], dtype=np.int64
    ).reshape(-1, 8)
    in_study = Comparison.objects.filter(study=study).values("pk")
    # Every judgment of the study as plain columns of its own table (no join, no expression
    # over other tables: what depends on the comparison or the presentation is worked out
    # below, in numpy): ids, kind and flags packed into one integer, winner (-1 none),
    # response time (-1 unknown). Then which image each presentation showed on the left.
    rows = int_rows(
        Judgment.objects.filter(comparison_id__in=in_study)
        .annotate(
            packed=_flag(outcome=Judgment.Outcome.TIE) * _TIE
            + _flag(outcome=Judgment.Outcome.BOTH_BAD) * _BOTH_BAD
            + _flag(flagged_fast=True) * _FAST
            + _flag(is_repeat=True) * _REPEAT,
            winner_or_none=Coalesce("winner_id", V(-1)),
            ms=Coalesce("response_ms", V(-1)),
        )
        .values_list(
            "comparison_id",
            "rater_id",
            "criterion_id",
            "presentation_id",
            "packed",
            "winner_or_none",
            "ms",
        )
        .order_by(),
        7,
    )
    shown = int_rows(
        Presentation.objects.filter(comparison_id__in=in_study).values_list("pk", "left_id"), 2
    )
    at = _positions(comp[:, 0], rows[:, 0])
    left = shown[_positions(shown[:, 0], rows[:, 3]), 1]
    winner, packed = rows[:, 5], rows[:, 4]
    image_a, image_b = comp[at, 1], comp[at, 2]
    # The outcome code: 0 image a won, 1 image b, 2 tie, 3 both bad, 4 a win for neither.
    outcome = np.select(
        [winner == image_a, winner == image_b, (packed & _TIE) > 0, (packed & _BOTH_BAD) > 0],
        [0, 1, 2, 3],
        4,
    )
    a_left = left == image_a
    chose_left = winner == left
    gold_right = (winner == comp[at, 7]) & (winner >= 0)
    fast = (packed & _FAST) > 0
    excluded = np.array(sorted(study.excluded_raters.values_list("id", flat=True)), dtype=np.int64)
    again = (packed & _REPEAT) > 0
    first = ~again
    code = outcome[first]
    ms = rows[first, 6].astype(float)
    ms[ms < 0] = np.nan
    # Each repeat's first vote: same comparison, rater and criterion (unique in the database).
    first_key, again_key = _keys(rows[first, :3], rows[again, :3])
    order = np.argsort(first_key, kind="stable")
    pos = np.minimum(np.searchsorted(first_key[order], again_key), max(first_key.size - 1, 0))
    has_first = first_key[order][pos] == again_key if first_key.size else again_key < 0
    # The first vote's choice in CHOICES' codes (a win for neither image is 3 there).
    first_choice = np.where(has_first, np.minimum(code[order][pos], 3) if code.size else -1, -1)
    return StudyVotes(
        comparison_id=comp[:, 0],
        image_a=comp[:, 1],
        image_b=comp[:, 2],
        config_a=comp[:, 3],
        config_b=comp[:, 4],
        prompt=comp[:, 5],
        is_gold=comp[:, 6] == 1,
        has_gold_winner=comp[:, 7] >= 0,
        comparison=at[first],
        rater=rows[first, 1],
        criterion=rows[first, 2],
        code=code,
        a_left=a_left[first],
        chose_left=chose_left[first],
        gold_right=gold_right[first],
        response_ms=ms,
        fast=fast[first],
        excluded=np.isin(rows[first, 1], excluded),
        repeat_comparison=at[again],
        repeat_rater=rows[again, 1],
        repeat_criterion=rows[again, 2],
        repeat_choice=np.minimum(outcome[again], 3),
        repeat_first=first_choice.astype(np.int64),
        repeat_excluded=np.isin(rows[again, 1], excluded),
    )


def _positions(ids: IntArray, wanted: IntArray) -> IntArray:
    """Where each of `wanted` sits in `ids` (distinct ids, every wanted one among them)."""
    if not ids.size:
        return np.zeros(wanted.shape, dtype=np.int64)
    low, high = int(ids.min()), int(ids.max())
    if high - low <= 4 * ids.size + 1024:  # ids close together: a direct table, no sort
        table = np.zeros(high - low + 1, dtype=np.int64)
        table[ids - low] = np.arange(ids.size)
        return table[wanted - low]
    order = np.argsort(ids)
    return order[np.searchsorted(ids, wanted, sorter=order)]


def _keys(a: IntArray, b: IntArray) -> tuple[IntArray, IntArray]:
    """One integer per row of (comparison, rater, criterion), comparable between a and b."""
    both = np.concatenate([a, b])
    key = np.zeros(len(both), dtype=np.int64)
    for column in range(3):
        values = both[:, column]
        low = int(values.min()) if values.size else 0
        span = int(values.max()) - low + 1 if values.size else 1
        if (
            span <= 4 * len(values) + 1024
            and span * (int(key.max()) + 1 if key.size else 1) < 2**62
        ):
            key = key * span + (values - low)  # ids close together: no sort needed
        else:
            distinct, index = np.unique(values, return_inverse=True)
            key = key * max(distinct.size, 1) + index.reshape(-1)
    return key[: len(a)], key[len(a) :]


#: study id → (token, votes): the latest version read, of one study. Valid while the cache
#: holds the same token under that version's key (so clearing the cache drops it too).
_held: dict[int, tuple[str, StudyVotes]] = {}
_held_lock = threading.Lock()


def _votes(study: Study, version: str) -> StudyVotes:
    """The study's votes at this version: read once, shared by every report."""
    key = f"loupe:analysis:votes:{study.pk}:{version}"
    token = cache_get(key)
    held = _held.get(study.pk)
    if token is not None and held is not None and held[0] == token:
        return held[1]
    votes = _load_votes(study)
    token = secrets.token_hex(8)
    cache_set(key, token, CACHE_SECONDS)
    with _held_lock:
        _held.clear()
        _held[study.pk] = (token, votes)
    return votes


# --------------------------------------------------------------------------- the report cache


def _version(study: Study) -> str:
    """Changes whenever a judgment is written, changed or deleted, or the set of excluded
    raters changes: VoteTally's counter (kept by triggers) summed over a row per rater."""
    changes = VoteTally.objects.filter(study_id=study.pk).aggregate(n=Sum("changes"))["n"]
    excluded = sorted(study.excluded_raters.values_list("id", flat=True))
    return f"{changes or 0}.{'-'.join(map(str, excluded))}"


def _cached(
    kind: str, study: Study, criterion: Criterion | None, compute: Callable[[StudyVotes], T]
) -> T:
    """The report from the cache, or computed from the study's votes at the current version."""
    version = _version(study)
    key = f"loupe:analysis:{kind}:{study.pk}:{criterion.pk if criterion else 'all'}:{version}"
    found = cache_get(key)
    if found is None:
        found = compute(_votes(study, version))
        cache_set(key, found, CACHE_SECONDS)
    return found  # type: ignore[no-any-return]


def judgment_count(*, study: Study) -> int:
    """Every judgment of the study (first votes and repeats, excluded raters too), cached."""
    return _cached(
        "count", study, None, lambda votes: int(votes.code.size + votes.repeat_rater.size)
    )


def pair_counts(*, study: Study, criterion: Criterion | None = None) -> list[CountRow]:
    """First votes grouped by config pair × rater × prompt × side, with outcome counts.

    Read afresh (the reports share one cached read; this is for callers outside them).
    """
    votes = _load_votes(study)
    g = votes.grouped(votes.preference(criterion), by_prompt=True, by_rater=True, by_side=True)
    return [
        CountRow(*row)
        for row in zip(
            g.config_a.tolist(),
            g.config_b.tolist(),
            g.rater.tolist(),
            g.prompt.tolist(),
            (g.a_left == 1).tolist(),
            *(g.counts[:, k].tolist() for k in range(4)),
            strict=True,
        )
    ]
