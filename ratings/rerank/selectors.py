"""Reads for best-of-N reranking studies: scorers, progress (rendered, scored), the result."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from generation.models import Image, ImageScore
from ratings.analysis.rerank import (
    FavouriteShare,
    RerankWinRate,
    TournamentVotes,
    favourite_share,
    rerank_win_rate,
)
from ratings.models import Comparison, Criterion, RerankCandidate, RerankPick, Study
from ratings.reports.judgments import study_judgments


def rerank_scorers_available() -> list[str]:
    """Scorers a best-of-N study may use: the metrics configured on the workers
    (LOUPE_SCORERS) first, then any other metric images already carry (e.g. checklist
    labellers' `checklist:<labeller>` scores)."""
    from generation.services.scoring import configured_metrics

    configured = list(configured_metrics())
    stored = sorted(
        set(ImageScore.objects.values_list("metric", flat=True).distinct()) - set(configured)
    )
    return configured + stored


def rerank_candidate_images(*, study_id: int) -> QuerySet[Image]:
    """The N candidates of every prompt of a best-of-N study."""
    return Image.objects.filter(
        pk__in=RerankCandidate.objects.filter(study_id=study_id).values("image_id")
    )


@dataclass(frozen=True)
class ScorerProgress:
    scorer: str
    scored: int
    #: Computed by the render workers (in LOUPE_SCORERS); else its scores come from elsewhere
    #: (e.g. the checklist labellers), and the page does not poll for them.
    automatic: bool = True


@dataclass(frozen=True)
class RerankProgress:
    total: int
    rendered: int
    failed: int
    scorers: list[ScorerProgress]
    built: bool
    comparisons: int

    @property
    def remaining(self) -> int:
        return self.total - self.rendered - self.failed

    @property
    def rendered_percent(self) -> int:
        return round(100 * self.rendered / self.total) if self.total else 0

    @property
    def scored_percent(self) -> int:
        if not self.total or not self.scorers:
            return 0
        return round(100 * min(s.scored for s in self.scorers) / self.total)

    @property
    def ready(self) -> bool:
        """Every candidate rendered and scored by every scorer."""
        return (
            self.total > 0
            and self.rendered == self.total
            and all(s.scored == self.total for s in self.scorers)
        )

    @property
    def working(self) -> bool:
        """Rendering or scoring may still move (the page keeps polling)."""
        if self.built or self.total == 0:
            return False
        return self.remaining > 0 or any(
            s.automatic and s.scored < self.rendered for s in self.scorers
        )

    def waiting_text(self) -> str:
        if self.total == 0:
            return "Launch the study first: it has no candidates yet."
        parts = []
        if self.rendered < self.total:
            parts.append(f"{self.rendered} of {self.total} candidates are rendered")
            if self.failed:
                parts.append(f"{self.failed} failed (retry them on the progress page)")
        for s in self.scorers:
            if s.scored < self.total:
                parts.append(
                    f"scorer {s.scorer} has scored {s.scored} of {self.total}"
                    + ("" if s.automatic else " (its scores come from outside the render workers)")
                )
        return (
            "The pairs are built once every candidate is rendered and scored: "
            + "; ".join(parts)
            + "."
        )


def rerank_progress(*, study: Study) -> RerankProgress:
    """Candidates rendered, failed and scored per scorer; whether the pairs are built."""
    return rerank_progress_many([study])[study.pk]


def rerank_progress_many(studies: Iterable[Study]) -> dict[int, RerankProgress]:
    """rerank_progress of each study (their `rerank` setups loaded), in three queries."""
    from generation.services.scoring import configured_metrics

    setups = {s.pk: s.rerank for s in studies}
    candidates = RerankCandidate.objects.filter(study_id__in=setups)
    counts = {
        row["study_id"]: row
        for row in candidates.values("study_id").annotate(
            total=Count("pk"),
            rendered=Count("pk", filter=Q(image__status=Image.Status.DONE)),
            failed=Count("pk", filter=Q(image__status=Image.Status.FAILED)),
        )
    }
    scored = {
        (study_id, metric): n
        for study_id, metric, n in candidates.filter(
            image__scores__metric__in={s for setup in setups.values() for s in setup.scorers}
        )
        .values_list("study_id", "image__scores__metric")
        .annotate(n=Count("pk"))
    }
    # The pairs are built in the transaction that stamps pairs_built_at: none before.
    built = [pk for pk, setup in setups.items() if setup.pairs_built_at is not None]
    comparisons = dict(
        Comparison.objects.filter(study_id__in=built)
        .values_list("study_id")
        .annotate(n=Count("pk"))
        .values_list("study_id", "n")
    )
    on_workers = configured_metrics()
    out = {}
    for pk, setup in setups.items():
        row = counts.get(pk, {})
        out[pk] = RerankProgress(
            total=row.get("total", 0),
            rendered=row.get("rendered", 0),
            failed=row.get("failed", 0),
            scorers=[
                ScorerProgress(s, scored.get((pk, s), 0), s in on_workers) for s in setup.scorers
            ],
            built=pk in built,
            comparisons=comparisons.get(pk, 0),
        )
    return out


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class ScorerResult:
    scorer: str
    win: RerankWinRate
    favourite: FavouriteShare
    #: Prompts where the scorer's pick is also another scorer's (their votes are shared).
    shared_picks: int = 0


@dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    scorers: list[ScorerResult]
    #: Prompts with a tournament, and those whose every pair has a vote.
    tournaments: int
    tournaments_complete: int


@dataclass(frozen=True)
class RerankResult:
    study: Study
    candidates: int
    prompts: int
    tournament_size: int
    criteria: list[CriterionResult] = field(default_factory=list)
    #: The picks (prompt and both images loaded) and, per criterion id and comparison, the
    #: counted first votes [wins of a, wins of b, ties, both bad]; rerank_pick_cards reads them.
    picks: list[RerankPick] = field(default_factory=list, repr=False)
    tallies: dict[int, dict[int, list[float]]] = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[CriterionResult]:
        return iter(self.criteria)


def rerank_result(*, study: Study) -> RerankResult:
    """Per criterion and scorer: how often the scorer's pick beats a random candidate
    (ratings.analysis.rerank), and how often it is the humans' favourite of its prompt's
    tournament where one was judged. Excluded raters and swapped-sides repeats left out."""
    setup = study.rerank
    picks = list(
        RerankPick.objects.filter(study=study)
        .select_related("prompt", "pick", "other")
        .order_by("scorer", "prompt_id")
    )
    members: dict[int, list[int]] = {}
    for prompt_id, image_id in (
        RerankCandidate.objects.filter(study=study, in_tournament=True)
        .order_by("image_id")
        .values_list("image__prompt_id", "image_id")
    ):
        members.setdefault(prompt_id, []).append(image_id)
    member_of = {image: prompt for prompt, images in members.items() for image in images}
    criteria = list(study.criteria.all())
    rows = (
        study_judgments(study=study)
        .values_list(
            "criterion_id",
            "comparison_id",
            "comparison__image_a_id",
            "comparison__image_b_id",
            "outcome",
            "winner_id",
        )
        .order_by("id")
    )
    # Per criterion: comparison → [wins of a, wins of b, ties, both bad]
    tallies: dict[int, dict[int, list[float]]] = {c.pk: {} for c in criteria}
    pair_images: dict[int, tuple[int, int]] = {}
    for criterion_id, comparison_id, a, b, outcome, winner in rows:
        pair_images[comparison_id] = (a, b)
        k = (0 if winner == a else 1) if outcome == "win" else (2 if outcome == "tie" else 3)
        tallies[criterion_id].setdefault(comparison_id, [0.0, 0.0, 0.0, 0.0])[k] += 1
    pick_count: dict[tuple[int, int], int] = {}
    for p in picks:
        pick_count[(p.prompt_id, p.pick_id)] = pick_count.get((p.prompt_id, p.pick_id), 0) + 1
    out = []
    for criterion in criteria:
        per_pair = tallies[criterion.pk]
        tournaments = _tournaments(members, member_of, per_pair, pair_images)
        scorer_rows = []
        for scorer in setup.scorers:
            mine = [p for p in picks if p.scorer == scorer]
            wins, losses, ties, both_bad = [], [], [], []
            for p in mine:
                won, lost, t, bb = _pick_side(p, per_pair.get(p.comparison_id, _NO_VOTES))
                wins.append(won)
                losses.append(lost)
                ties.append(t)
                both_bad.append(bb)
            scorer_rows.append(
                ScorerResult(
                    scorer=scorer,
                    win=rerank_win_rate(wins=wins, losses=losses, ties=ties, both_bad=both_bad),
                    favourite=favourite_share({p.prompt_id: p.pick_id for p in mine}, tournaments),
                    shared_picks=sum(pick_count[(p.prompt_id, p.pick_id)] > 1 for p in mine),
                )
            )
        out.append(
            CriterionResult(
                criterion=criterion,
                scorers=scorer_rows,
                tournaments=len(members),
                tournaments_complete=sum(t.complete() for t in tournaments.values()),
            )
        )
    return RerankResult(
        study=study,
        candidates=study.seeds_per_prompt,
        prompts=study.prompts.count(),
        tournament_size=setup.tournament_size,
        criteria=out,
        picks=picks,
        tallies=tallies,
    )


_NO_VOTES = (0.0, 0.0, 0.0, 0.0)


def _pick_side(pick: RerankPick, tally: Sequence[float]) -> tuple[float, float, float, float]:
    """A pick pair's tally [a wins, b wins, ties, both bad] seen from the pick: (its wins, its
    losses, ties, both bad). The comparison stores the lower image id as a."""
    a_wins, b_wins, ties, both_bad = tally
    if pick.pick_id < pick.other_id:
        return a_wins, b_wins, ties, both_bad
    return b_wins, a_wins, ties, both_bad


def _tournaments(
    members: dict[int, list[int]],
    member_of: dict[int, int],
    tally: dict[int, list[float]],
    pair_images: dict[int, tuple[int, int]],
) -> dict[int, TournamentVotes]:
    credit: dict[int, dict[tuple[int, int], float]] = {p: {} for p in members}
    votes: dict[int, dict[tuple[int, int], float]] = {p: {} for p in members}
    for comparison_id, (a_wins, b_wins, t, bb) in tally.items():
        a, b = pair_images[comparison_id]
        prompt = member_of.get(a)
        if prompt is None or member_of.get(b) != prompt:
            continue
        half = (t + bb) / 2
        credit[prompt][(a, b)] = a_wins + half
        credit[prompt][(b, a)] = b_wins + half
        votes[prompt][(a, b)] = a_wins + b_wins + t + bb
    return {p: TournamentVotes(tuple(images), credit[p], votes[p]) for p, images in members.items()}


@dataclass(frozen=True)
class PickCard:
    """One scorer's pick of one prompt beside its random rival, with the votes they got
    (every criterion, first votes of counted raters)."""

    pick: RerankPick
    pick_url: str | None
    other_url: str | None
    pick_score: float | None
    other_score: float | None
    pick_votes: int
    other_votes: int
    even_votes: int


def rerank_pick_cards(*, result: RerankResult) -> list[PickCard]:
    """Every pick pair of the study, by prompt then scorer, for the result page's pictures:
    the result's picks and votes, with each image's score."""
    from generation.media import image_url

    picks = sorted(result.picks, key=lambda p: (p.prompt_id, p.scorer))
    images = [i for p in picks for i in (p.pick_id, p.other_id)]
    scores = {
        (image_id, metric): value
        for image_id, metric, value in ImageScore.objects.filter(
            image_id__in=images, metric__in=result.study.rerank.scorers
        ).values_list("image_id", "metric", "value")
    }

    cards = []
    for p in picks:
        won = lost = even = 0.0  # every criterion's votes on the pair, from the pick's side
        for per_pair in result.tallies.values():
            w, lo, t, bb = _pick_side(p, per_pair.get(p.comparison_id, _NO_VOTES))
            won, lost, even = won + w, lost + lo, even + t + bb
        cards.append(
            PickCard(
                pick=p,
                pick_url=image_url(p.pick),
                other_url=image_url(p.other),
                pick_score=scores.get((p.pick_id, p.scorer)),
                other_score=scores.get((p.other_id, p.scorer)),
                pick_votes=int(won),
                other_votes=int(lost),
                even_votes=int(even),
            )
        )
    return cards
