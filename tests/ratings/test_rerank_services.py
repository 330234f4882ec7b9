"""Best-of-N studies: create, launch, wait for rendering and scoring, build pairs, result."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from generation.models import Image, ImageScore
from ratings.models import Comparison, Judgment, Presentation, RerankCandidate, RerankPick, Study
from ratings.rerank import services as rerank_services
from ratings.rerank.selectors import rerank_progress, rerank_result, rerank_scorers_available
from ratings.rerank.services import rerank_pairs_build, rerank_study_create
from ratings.selectors import study_images
from ratings.services.judging import deck_deal, judgments_record
from ratings.services.studies import comparison_create, study_launch, study_open
from tests.factories import PALETTE, PromptFactory, make_config, paint_done, rater, vote

pytestmark = pytest.mark.django_db


@pytest.fixture
def scorers(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    settings.LOUPE_SCORERS = {"clip": "/models/clip", "aesthetic": "/models/aesthetic"}
    # Rendering and scoring are the workers' (tested in tests/generation): paint and score here.
    monkeypatch.setattr(rerank_services, "_enqueue", lambda unscored: None)
    return ["clip", "aesthetic"]


def _study(scorers: list[str], *, prompts: int = 2, n: int = 6, tournament: int = 0) -> Study:
    return rerank_study_create(
        name="Best of six",
        config=make_config(sampler="euler_a"),
        prompts=[PromptFactory.create() for _ in range(prompts)],
        candidates=n,
        scorers=scorers,
        tournament_size=tournament,
    )


def _render_and_score(study: Study, values: dict[str, Any]) -> None:
    """Paint every candidate done; values[metric](image) gives its score."""
    for i, image in enumerate(study_images(study_id=study.pk).order_by("pk")):
        paint_done(image, colour=PALETTE[i % len(PALETTE)], shape=i)
        for metric, value in values.items():
            ImageScore.objects.create(
                image=image, metric=metric, value=value(image), model_path="-"
            )


def test_rerank_study_create_rejects_bad_input_naming_the_field(scorers: list[str]) -> None:
    config = make_config(sampler="euler_a")
    with pytest.raises(ValidationError) as error:
        rerank_study_create(
            name="x", config=config, prompts=[], candidates=65, scorers=["nope"],
            tournament_size=2,
        )  # fmt: skip
    assert set(error.value.message_dict) == {"candidates", "scorers", "tournament_size", "prompts"}
    assert "between 2 and 64" in error.value.message_dict["candidates"][0]
    assert "Unknown scorer nope" in error.value.message_dict["scorers"][0]
    assert not Study.objects.exists()


def test_rerank_scorers_available_lists_configured_then_stored_metrics(scorers: list[str]) -> None:
    image = make_image_done()
    ImageScore.objects.create(image=image, metric="checklist:vlm", value=0.5, model_path="-")
    assert rerank_scorers_available() == ["clip", "aesthetic", "checklist:vlm"]


def make_image_done() -> Image:
    return paint_done(
        Image.objects.create(config=make_config(), prompt=PromptFactory.create(), seed=1)
    )


def test_launch_creates_n_candidates_per_prompt_and_is_safe_twice(scorers: list[str]) -> None:
    study = _study(scorers, prompts=2, n=6)
    first = study_launch(study=study)
    again = study_launch(study=study)
    assert (first.images_created, again.images_created, again.images_reused) == (12, 0, 12)
    images = Image.objects.filter(pk__in=RerankCandidate.objects.values("image_id"))
    assert sorted(set(images.values_list("seed", flat=True))) == study.seeds()
    assert study_images(study_id=study.pk).count() == 12
    study.refresh_from_db()
    assert study.status == Study.Status.RENDERING and study.kind == Study.Kind.RERANK
    assert study.gold_rate == 0


def test_open_waits_for_rendering_and_scoring(scorers: list[str]) -> None:
    study = _study(scorers, prompts=1, n=4)
    study_launch(study=study)
    with pytest.raises(ValidationError, match="0 of 4 candidates are rendered"):
        study_open(study=study)
    _render_and_score(study, {"clip": lambda im: im.seed})
    progress = rerank_progress(study=study)
    assert (progress.rendered, [s.scored for s in progress.scorers]) == (4, [4, 0])
    with pytest.raises(ValidationError, match="scorer aesthetic has scored 0 of 4"):
        study_open(study=study)
    assert not Comparison.objects.filter(study=study).exists()
    for image in study_images(study_id=study.pk):
        ImageScore.objects.create(
            image=image, metric="aesthetic", value=-image.seed, model_path="-"
        )
    study_open(study=study)
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    assert rerank_progress(study=study).built


def test_pairs_pit_each_scorers_top_pick_against_a_reproducible_random_rival(
    scorers: list[str],
) -> None:
    study = _study(scorers, prompts=3, n=8)
    study_launch(study=study)
    _render_and_score(study, {"clip": lambda im: im.seed, "aesthetic": lambda im: -im.seed})
    created = rerank_pairs_build(study=study)
    assert rerank_pairs_build(study=study) == 0  # safe twice
    picks = list(RerankPick.objects.filter(study=study).select_related("pick", "other"))
    assert created == Comparison.objects.filter(study=study).count() == len(picks) == 6
    for p in picks:
        top = max(study.seeds()) if p.scorer == "clip" else min(study.seeds())
        assert p.pick.seed == top and p.other.prompt_id == p.prompt_id and p.other != p.pick
        assert p.comparison.seed == p.pick.seed
        assert {p.comparison.image_a_id, p.comparison.image_b_id} == {p.pick_id, p.other_id}
    # The same draw on a rebuild: rivals depend on study, prompt and scorer only.
    drawn = {(p.prompt_id, p.scorer): p.other_id for p in picks}
    RerankPick.objects.filter(study=study).delete()
    Comparison.objects.filter(study=study).delete()
    study.rerank.pairs_built_at = None
    study.rerank.save()
    rerank_pairs_build(study=study)
    again = {(p.prompt_id, p.scorer): p.other_id for p in RerankPick.objects.filter(study=study)}
    assert again == drawn


def test_score_ties_go_to_the_lower_seed(scorers: list[str]) -> None:
    study = _study(["clip"], prompts=1, n=5)
    study_launch(study=study)
    _render_and_score(study, {"clip": lambda im: 1.0})
    rerank_pairs_build(study=study)
    assert RerankPick.objects.get(study=study).pick.seed == study.base_seed


def test_tournament_holds_the_picks_and_compares_every_pair(scorers: list[str]) -> None:
    study = _study(scorers, prompts=2, n=10, tournament=4)
    study_launch(study=study)
    _render_and_score(study, {"clip": lambda im: im.seed, "aesthetic": lambda im: -im.seed})
    rerank_pairs_build(study=study)
    for prompt in study.prompts.all():
        members = set(
            RerankCandidate.objects.filter(
                study=study, in_tournament=True, image__prompt=prompt
            ).values_list("image_id", flat=True)
        )
        assert len(members) == 4
        picks = set(RerankPick.objects.filter(prompt=prompt).values_list("pick_id", flat=True))
        assert picks <= members
        pairs = {
            frozenset(p)
            for p in Comparison.objects.filter(study=study, prompt=prompt).values_list(
                "image_a_id", "image_b_id"
            )
        }
        assert {frozenset((a, b)) for a in members for b in members if a != b} <= pairs


def test_rate_path_deals_every_pair_and_records_votes_on_either_side(scorers: list[str]) -> None:
    study = _study(["clip"], prompts=12, n=4)
    study_launch(study=study)
    _render_and_score(study, {"clip": lambda im: im.seed})
    study_open(study=study)
    person = rater(username="judge")
    study.rater_groups.add(*person.groups.all())
    keys = list(study.criteria.values_list("key", flat=True))
    while (deck := deck_deal(rater=person, study=study)).current is not None:
        judgments_record(
            rater=person, presentation_id=deck.current.pk, votes=dict.fromkeys(keys, "left")
        )
    shown = Presentation.objects.filter(rater=person, is_repeat=False)
    assert shown.count() == Comparison.objects.filter(study=study).count() == 12
    # Sides are drawn per presentation: the pick is on the left sometimes, not always.
    pick_left = {
        p.left_id == p.comparison.rerank_picks.get().pick_id
        for p in shown.select_related("comparison")
    }
    assert pick_left == {True, False}
    assert Judgment.objects.filter(rater=person, is_repeat=False).count() == 24


def test_result_counts_pick_wins_per_scorer_and_favourites(scorers: list[str]) -> None:
    study = _study(scorers, prompts=3, n=6, tournament=3)
    study_launch(study=study)
    # clip likes high seeds, aesthetic low seeds; raters prefer high seeds.
    _render_and_score(study, {"clip": lambda im: im.seed, "aesthetic": lambda im: -im.seed})
    study_open(study=study)
    criterion = study.criteria.get(key="prompt_adherence")
    seeds = dict(Image.objects.values_list("pk", "seed"))
    for i in range(3):
        person = rater(username=f"r{i}")
        for comparison in Comparison.objects.filter(study=study):
            higher = "a" if seeds[comparison.image_a_id] > seeds[comparison.image_b_id] else "b"
            vote(comparison, person, criterion, higher)
    result = rerank_result(study=study)
    by_scorer = {r.scorer: r for r in result.criteria[0].scorers}
    assert result.criteria[0].criterion == criterion
    assert by_scorer["clip"].win.win_rate == 1.0 and by_scorer["clip"].win.votes == 9
    assert by_scorer["aesthetic"].win.win_rate == 0.0
    assert by_scorer["clip"].favourite.prompts == 3 and by_scorer["clip"].favourite.hits == 3
    assert by_scorer["aesthetic"].favourite.hits == 0
    assert result.criteria[0].tournaments_complete == 3
    # The other criterion has no votes: nothing known.
    assert result.criteria[1].scorers[0].win.win_rate is None


def test_comparison_create_with_a_seed_pairs_candidates_of_one_prompt_and_config(
    scorers: list[str],
) -> None:
    study = _study(["clip"], prompts=1, n=2)
    prompt = study.prompts.get()
    config = study.configs.get()
    a = Image.objects.create(config=config, prompt=prompt, seed=7)
    b = Image.objects.create(config=config, prompt=prompt, seed=9)
    other = Image.objects.create(config=make_config(sampler="ddim"), prompt=prompt, seed=9)
    comparison, created = comparison_create(study=study, first=b, second=a, seed=9)
    assert created and comparison.seed == 9 and comparison.image_a == a
    with pytest.raises(ValidationError, match="share prompt and configuration"):
        comparison_create(study=study, first=a, second=other, seed=7)
    with pytest.raises(ValidationError, match="share prompt and seed"):
        comparison_create(study=study, first=a, second=b)


def test_progress_polls_only_for_what_the_workers_compute(
    scorers: list[str], settings: Any
) -> None:
    image = make_image_done()
    ImageScore.objects.create(image=image, metric="checklist:vlm", value=0.5, model_path="-")
    study = _study(["clip", "checklist:vlm"], prompts=1, n=2)
    study_launch(study=study)
    assert rerank_progress(study=study).working  # nothing rendered yet
    _render_and_score(study, {"clip": lambda im: im.seed})
    progress = rerank_progress(study=study)
    assert [(s.scorer, s.scored, s.automatic) for s in progress.scorers] == [
        ("clip", 2, True),
        ("checklist:vlm", 0, False),
    ]
    # The labeller's scores come from elsewhere: no polling for them, and the page says why.
    assert not progress.working and not progress.ready
    assert "come from outside the render workers" in progress.waiting_text()
