"""Which pair a rater sees next (what the rater has done so far: ratings.progress).

The choices are pure functions over plain data (candidates in, one candidate out) so they can
be tested with fixed random generators, and bench/validity.py simulates whole studies through
them; the ORM reads that feed them sit at the end. Adaptive designs steer by the leaderboard's
own Bradley–Terry fit (ratings.reports.study_leaderboard_fit): one model for choosing pairs and
for the results.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from django.contrib.auth.models import User

from evalsite.cache import cache_get, cache_set
from generation.models import Image
from ratings.analysis import StrengthUncertainty
from ratings.models import Comparison, Presentation, Study
from ratings.reports.leaderboard import study_leaderboard_fit

REPEAT_RATE = 0.05
# A repeat only comes back after this many other pairs, so the rater judges it afresh.
REPEAT_MIN_GAP = 3
#: Adaptive designs: the share of picks steered by the leaderboard's fit (the rest fill the
#: study evenly, fewest judgments first, so every configuration keeps being measured).
ADAPTIVE_SHARE = 0.9
#: Draws of the leaderboard's uncertainty behind the pair weights.
PAIR_DRAWS = 2000
PAIR_WEIGHTS_CACHE_SECONDS = 30

#: Config pair (lower id first) → weight of picking it in an adaptive design.
PairWeights = Mapping[tuple[int, int], float]


class Candidate(NamedTuple):
    """A ready comparison the rater may be shown (a tuple: deals build hundreds per vote)."""

    comparison_id: int
    config_a: int
    config_b: int
    shown: int  # first presentations to anyone, skipped ones apart
    is_gold: bool
    image_a: int = 0
    image_b: int = 0

    @property
    def pair(self) -> tuple[int, int]:
        return (
            (self.config_a, self.config_b)
            if self.config_a < self.config_b
            else (
                self.config_b,
                self.config_a,
            )
        )


@dataclass(frozen=True)
class Plan:
    comparison_id: int
    is_repeat: bool
    images: tuple[int, int]
    # None: the sides are drawn at random when the presentation is made.
    left_image_id: int | None


def _fewest_shown(pool: Sequence[Candidate], rng: random.Random) -> Candidate:
    least = min(c.shown for c in pool)
    return rng.choice([c for c in pool if c.shown == least])


def choose_candidate(
    candidates: Sequence[Candidate],
    *,
    rng: random.Random,
    gold_rate: float,
    pair_weights: PairWeights | None = None,
    adaptive_share: float = ADAPTIVE_SHARE,
    target: int | None = None,
) -> Candidate | None:
    """Pick the next comparison: gold at `gold_rate`, then fewest presentations first.

    Fewest first fills every comparison evenly toward the study's target judgments: none is
    shown again while another the rater may judge has been shown fewer times. With
    `pair_weights` (adaptive designs, from top_two_weights), `adaptive_share` of the picks
    first choose a configuration pair with probability proportional to its weight among the
    pairs this rater can still judge, then that pair's comparison with the fewest
    presentations (so a pair judged again and again spreads over its prompts and seeds).
    The other picks of an adaptive design fill evenly up to `target` (the study's judgments
    per comparison), then pick at random like uniform pairing: fewest first past the target
    would steer away from the most-judged pairs, which are the leaders'.
    """
    if not 0.0 <= gold_rate <= 1.0:
        raise ValueError(f"gold_rate must be between 0 and 1, got {gold_rate!r}.")
    if not 0.0 <= adaptive_share <= 1.0:
        raise ValueError(f"adaptive_share must be between 0 and 1, got {adaptive_share!r}.")
    if not candidates:
        return None
    gold = [c for c in candidates if c.is_gold]
    plain = [c for c in candidates if not c.is_gold]
    pool = gold if gold and (not plain or rng.random() < gold_rate) else plain
    if pair_weights and not pool[0].is_gold and rng.random() < adaptive_share:
        # Both orders of every weighted pair: one lookup per candidate (deals see hundreds).
        weight = {}
        for (a, b), w in pair_weights.items():
            if w > 0.0:
                weight[(a, b)] = weight[(b, a)] = w
        by_pair: dict[tuple[int, int], list[Candidate]] = {}
        for c in pool:
            if (c.config_a, c.config_b) in weight:
                by_pair.setdefault(c.pair, []).append(c)
        if by_pair:
            pairs = list(by_pair)
            chosen = rng.choices(pairs, weights=[weight[p] for p in pairs])[0]
            return _fewest_shown(by_pair[chosen], rng)
    if pair_weights is not None and target is not None:
        below = [c for c in pool if c.shown < target]
        return _fewest_shown(below, rng) if below else rng.choice(pool)
    return _fewest_shown(pool, rng)


def wants_repeat(*, rng: random.Random, rate: float = REPEAT_RATE) -> bool:
    """The coin for a swapped-sides repeat; tossed first so most picks skip the lookup."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"Repeat rate must be between 0 and 1, got {rate!r}.")
    return rng.random() < rate


def choose_repeat(
    answered: Sequence[int], *, rng: random.Random, min_gap: int = REPEAT_MIN_GAP
) -> int | None:
    """Pick a comparison to show again with sides swapped, or None if none is eligible.

    `answered`: comparison ids the rater answered (oldest first) that have no repeat yet.
    The last `min_gap` are left out so a repeat is never the pair just judged.
    """
    eligible = answered[: max(len(answered) - min_gap, 0)]
    return rng.choice(list(eligible)) if eligible else None


def top_two_weights(
    fit: StrengthUncertainty,
    ids: Sequence[int],
    *,
    rng: np.random.Generator,
    draws: int = PAIR_DRAWS,
) -> dict[tuple[int, int], float]:
    """Weight of each config pair: the probability that it holds the two best configurations.

    From draws of the leaderboard's own uncertainty (`fit`, for items `ids`), so the pairs
    that decide which configuration is best get the votes, and the weight moves as soon as
    the votes move the leaderboard. Pairs that never come first and second get no weight.
    """
    if len(ids) != fit.strengths.size:
        raise ValueError(f"ids must name the fit's {fit.strengths.size} items, got {len(ids)}.")
    if len(ids) < 2:
        return {}
    sample = fit.draws(draws, rng)
    top = np.argpartition(-sample, 1, axis=1)[:, :2]
    low, high = top.min(axis=1), top.max(axis=1)
    n = len(ids)
    counts = np.bincount(low * n + high, minlength=n * n) / draws
    out: dict[tuple[int, int], float] = {}
    for flat in np.flatnonzero(counts):
        i, j = divmod(int(flat), n)
        a, b = ids[i], ids[j]
        out[(a, b) if a < b else (b, a)] = float(counts[flat])
    return out


def obvious_winner(a: Mapping[str, object], b: Mapping[str, object]) -> str | None:
    """ "a" or "b" when two configs differ only in steps, far apart (5 vs 50): a free gold pair.

    Under-sampled images are visibly unfinished, so any attentive rater picks the other one.
    """
    differing = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    if differing != {"steps"}:
        return None
    steps_a, steps_b = a["steps"], b["steps"]
    if not isinstance(steps_a, int) or not isinstance(steps_b, int):
        raise ValueError(f"Steps must be integers, got {steps_a!r} and {steps_b!r}.")
    low, high = sorted((steps_a, steps_b))
    if low > 8 or high < 5 * low:
        return None
    return "a" if steps_a > steps_b else "b"


# Reads -----------------------------------------------------------------------------------


class Shown(NamedTuple):
    """One presentation the rater already has in a study: what the next choice needs of it."""

    presentation_id: int
    comparison_id: int
    is_repeat: bool
    left_id: int
    answered: bool
    skipped: bool
    image_a: int
    image_b: int

    @property
    def pending(self) -> bool:
        return not self.answered and not self.skipped


def rater_shown(*, study: Study, rater: User) -> list[Shown]:
    """Every presentation made to the rater in the study, oldest first: one query."""
    rows = (
        Presentation.objects.filter(rater=rater, comparison__study=study)
        .order_by("pk")
        .values_list(
            "pk",
            "comparison_id",
            "is_repeat",
            "left_id",
            "answered_at",
            "skipped_at",
            "comparison__image_a_id",
            "comparison__image_b_id",
        )
    )
    return [
        Shown(pk, cid, repeat, left, answered is not None, skipped is not None, a, b)
        for pk, cid, repeat, left, answered, skipped, a, b in rows
    ]


def ready_pairs(*, study: Study) -> list[Candidate]:
    """Every ready comparison of the study with its first presentations so far: one query.

    The count is PairExposure's (kept by triggers), joined by key: the cost grows with the
    study's comparisons, not with its presentations. Readiness is checked here rather than in
    SQL so the joins stay primary-key lookups whatever the planner's statistics say.
    """
    done = Image.Status.DONE
    rows = (
        Comparison.objects.filter(study=study)
        .order_by("pk")
        .values_list(
            "pk",
            "image_a__config_id",
            "image_b__config_id",
            "exposure__shown",
            "is_gold",
            "image_a_id",
            "image_b_id",
            "image_a__status",
            "image_b__status",
        )
    )
    return [
        Candidate(pk, config_a, config_b, shown or 0, gold, a, b)  # no exposure row: none yet
        for pk, config_a, config_b, shown, gold, a, b, status_a, status_b in rows
        if status_a == done and status_b == done
    ]


def pair_candidates(
    *,
    study: Study,
    rater: User,
    shown: Sequence[Shown] | None = None,
    pairs: Sequence[Candidate] | None = None,
) -> list[Candidate]:
    """Ready comparisons of the study that were never presented to this rater.

    `shown` and `pairs` (from rater_shown and ready_pairs) save their queries when the
    caller has them already.
    """
    if shown is None:
        shown = rater_shown(study=study, rater=rater)
    if pairs is None:
        pairs = ready_pairs(study=study)
    seen = {row.comparison_id for row in shown}
    return [c for c in pairs if c.comparison_id not in seen]


def study_pair_weights(*, study: Study) -> dict[tuple[int, int], float] | None:
    """Adaptive studies: top_two_weights from the leaderboard's fit on the counted votes.

    The same fit as the leaderboard's (first votes, gold pairs and excluded raters left out,
    all criteria together); None until there are votes. Cached a few seconds per study, so a
    busy study refits at most that often.
    """
    key = f"loupe:pairweights:{study.pk}"
    cached = cache_get(key)
    if cached is not None:
        return None if cached == "none" else {(a, b): w for a, b, w in cached}
    found = study_leaderboard_fit(study=study)
    weights = None
    if found is not None:
        ids, fit = found
        weights = top_two_weights(fit, ids, rng=np.random.default_rng(study.pk))
    stored = "none" if weights is None else [(a, b, w) for (a, b), w in weights.items()]
    cache_set(key, stored, PAIR_WEIGHTS_CACHE_SECONDS)
    return weights


def next_plan(
    *,
    study: Study,
    rater: User,
    rng: random.Random,
    shown: Sequence[Shown] | None = None,
    pairs: Sequence[Candidate] | None = None,
) -> Plan | None:
    """What to show this rater next in this study, or None when nothing new is left.

    Repeats are mixed in only while new pairs remain, so a finished rater stays finished.
    `shown` and `pairs` (from rater_shown and ready_pairs) save their queries when the caller
    has them already (the deal reads them once for the choice and the progress bar).
    """
    if shown is None:
        shown = rater_shown(study=study, rater=rater)
    candidates = pair_candidates(study=study, rater=rater, shown=shown, pairs=pairs)
    if not candidates:
        return None
    if wants_repeat(rng=rng):
        repeat = _repeat_plan(shown, rng=rng)
        if repeat is not None:
            return repeat
    # Adaptive studies without votes yet get no steering but the adaptive design's even share.
    weights = (
        (study_pair_weights(study=study) or {}) if study.design == Study.Design.ADAPTIVE else None
    )
    chosen = choose_candidate(
        candidates,
        rng=rng,
        gold_rate=study.gold_rate,
        pair_weights=weights,
        target=study.target_judgments,
    )
    assert chosen is not None  # candidates is not empty
    return Plan(
        comparison_id=chosen.comparison_id,
        is_repeat=False,
        images=(chosen.image_a, chosen.image_b),
        left_image_id=None,
    )


def _repeat_plan(shown: Sequence[Shown], *, rng: random.Random) -> Plan | None:
    repeated = {row.comparison_id for row in shown if row.is_repeat}
    firsts = {row.comparison_id: row for row in shown if not row.is_repeat and row.answered}
    repeat_id = choose_repeat([cid for cid in firsts if cid not in repeated], rng=rng)
    if repeat_id is None:
        return None
    first = firsts[repeat_id]
    return Plan(
        comparison_id=repeat_id,
        is_repeat=True,
        images=(first.image_a, first.image_b),
        left_image_id=first.image_b if first.left_id == first.image_a else first.image_a,
    )
