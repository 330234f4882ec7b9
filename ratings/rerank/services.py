"""Writes for best-of-N reranking studies: create, launch (render and score the candidates),
and build the pairs raters judge once every candidate is rendered and scored.

A best-of-N study renders N candidates (seeds base_seed … base_seed+N-1) of each prompt with
one configuration. Each scorer (an ImageScore metric) picks its top candidate per prompt; that
pick meets a candidate of the same prompt drawn at random (reproducibly) in an ordinary
Comparison, judged on the ordinary pairwise screen (blind, sides random). An optional small
tournament compares every pair among a few candidates of each prompt (the scorers' picks first),
so the humans' favourite is known and each scorer's pick can be checked against it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generation.models import GenerationConfig, Image, ImageScore, Prompt
from generation.services.images import images_ensure
from ratings.models import (
    DEFAULT_CRITERIA,
    Comparison,
    RerankCandidate,
    RerankPick,
    RerankSetup,
    Study,
)
from ratings.rerank.selectors import (
    rerank_candidate_images,
    rerank_progress,
    rerank_scorers_available,
)
from ratings.services.audit import Actor
from ratings.services.studies import (
    LaunchResult,
    comparisons_ensure,
    study_create,
    study_launch_record,
)

CANDIDATES_MIN, CANDIDATES_MAX = 2, 64
TOURNAMENT_MIN, TOURNAMENT_MAX = 3, 8


def rerank_validate(
    *,
    candidates: int,
    scorers: Sequence[str],
    tournament_size: int,
    prompts: int,
    configs: int,
    available: Sequence[str] | None = None,
) -> dict[str, str]:
    """The rules of a best-of-N study, as field → message (empty: valid). `available`: the
    scorers a caller has read already (rerank_scorers_available), else read here."""
    errors: dict[str, str] = {}
    if not CANDIDATES_MIN <= candidates <= CANDIDATES_MAX:
        errors["candidates"] = (
            f"Candidates per prompt must be between {CANDIDATES_MIN} and {CANDIDATES_MAX}."
        )
    known = set(rerank_scorers_available() if available is None else available)
    if not scorers:
        errors["scorers"] = "Choose at least one scorer."
    elif unknown := [s for s in scorers if s not in known]:
        errors["scorers"] = (
            f"Unknown scorer {', '.join(unknown)}: choose from "
            f"{', '.join(sorted(known)) or 'none (set LOUPE_SCORERS)'}."
        )
    elif len(set(scorers)) != len(scorers):
        errors["scorers"] = "A scorer is listed twice."
    if tournament_size and not TOURNAMENT_MIN <= tournament_size <= TOURNAMENT_MAX:
        errors["tournament_size"] = (
            f"The tournament size must be 0 (none) or between {TOURNAMENT_MIN} and "
            f"{TOURNAMENT_MAX}."
        )
    elif tournament_size > candidates and "candidates" not in errors:
        errors["tournament_size"] = "The tournament cannot hold more than the candidates."
    if prompts < 1:
        errors["prompts"] = "Choose at least one prompt."
    if configs != 1:
        errors["config"] = "Choose exactly one configuration."
    return errors


def rerank_study_create(
    *,
    name: str,
    config: GenerationConfig,
    prompts: Sequence[Prompt],
    candidates: int,
    scorers: Sequence[str],
    tournament_size: int = 0,
    criteria: Sequence[tuple[str, str, str]] = DEFAULT_CRITERIA,
    raters: Sequence[Any] = (),
    rater_groups: Sequence[Any] = (),
    available: Sequence[str] | None = None,
    **fields: Any,
) -> Study:
    """A draft best-of-N study, all or nothing. Not safe to run twice: each run is a new study.
    `available`: the scorers the caller offered (rerank_scorers_available), read once.

    No gold pairs (every pair is a pick against a random candidate of the same configuration)
    and no configuration decision rule: the result is per scorer.
    """
    errors = rerank_validate(
        candidates=candidates,
        scorers=scorers,
        tournament_size=tournament_size,
        prompts=len(prompts),
        configs=1 if config is not None else 0,
        available=available,
    )
    if errors:
        raise ValidationError(errors, code="rerank")
    with transaction.atomic():
        study = study_create(
            name=name,
            prompts=prompts,
            configs=[config],
            criteria=criteria,
            raters=raters,
            rater_groups=rater_groups,
            kind=Study.Kind.RERANK,
            seeds_per_prompt=candidates,
            gold_rate=0.0,
            decision_rule=Study.DecisionRule.NONE,
            **fields,
        )
        RerankSetup.objects.create(
            study=study, scorers=list(scorers), tournament_size=tournament_size
        )
    return study


def rerank_launch_problems(study: Study) -> list[str]:
    problems = []
    if not hasattr(study, "rerank"):
        return ["This is not a best-of-N study."]
    # Read through .all(): a list of studies prefetches prompts and configs (StudyViewSet).
    if not study.prompts.all():
        problems.append("The study has no prompts: add at least one.")
    if len(study.configs.all()) != 1:
        problems.append("A best-of-N study renders one configuration: choose exactly one.")
    if not study.rerank.scorers:
        problems.append("The study has no scorer.")
    if study.status == Study.Status.CLOSED:
        problems.append("The study is closed.")
    return problems


def rerank_launch(*, study: Study, actor: Actor = None) -> LaunchResult:
    """Create the N candidates of every prompt, queue their rendering and the scoring of any
    already rendered, after commit. Safe to run twice: images are shared (config × prompt ×
    seed is unique) and candidates are created once; a launch that changed something is
    audited."""
    problems = rerank_launch_problems(study)
    if problems:
        raise ValidationError(problems)
    config = study.configs.get()
    seeds = study.seeds()
    with transaction.atomic():
        ensured = images_ensure(
            (config.pk, prompt_id, seed)
            for prompt_id in study.prompts.values_list("pk", flat=True)
            for seed in seeds
        )
        RerankCandidate.objects.bulk_create(
            [RerankCandidate(study=study, image=image) for image in ensured.images.values()],
            ignore_conflicts=True,
        )
        result = LaunchResult(ensured.created, ensured.reused, 0)
        study_launch_record(study=study, actor=actor, result=result)
        unscored = _unscored_done_candidates(study)
        transaction.on_commit(lambda: _enqueue(unscored))
    return result


def _unscored_done_candidates(study: Study) -> list[int]:
    """Rendered candidates (reused from elsewhere) that a configured scorer has not scored:
    newly rendered ones are scored by the render worker itself."""
    from generation.services.scoring import configured_metrics

    wanted = [s for s in study.rerank.scorers if s in configured_metrics()]
    done = list(
        RerankCandidate.objects.filter(study=study, image__status=Image.Status.DONE).values_list(
            "image_id", flat=True
        )
    )
    if not wanted or not done:
        return []
    scored: dict[int, int] = {}
    for image_id in ImageScore.objects.filter(image_id__in=done, metric__in=wanted).values_list(
        "image_id", flat=True
    ):
        scored[image_id] = scored.get(image_id, 0) + 1
    return [pk for pk in done if scored.get(pk, 0) < len(wanted)]


def _enqueue(unscored: list[int]) -> None:
    from generation.services.rendering import images_dispatch
    from generation.services.scoring import images_score_enqueue

    if unscored:
        images_score_enqueue(image_ids=unscored)
    images_dispatch()


def rerank_pairs_build(*, study: Study) -> int:
    """Build the pairs raters judge, once every candidate is rendered and scored.

    Per prompt and scorer: the scorer's top candidate (highest score; a tie goes to the lower
    seed) against a candidate drawn at random among the prompt's others, from a generator
    seeded by study, prompt and scorer (the same draw on every run). The comparison's `seed`
    is the pick's seed (its two images have different seeds: here only the seed differs).
    With a tournament: every pair among the prompt's tournament members (the scorers' picks,
    then candidates drawn at random up to the size); such a pair's `seed` is the lower of its two.

    Safe to run twice: a study whose pairs are built is left alone. Returns the comparisons
    created. Raises ValidationError (saying what is missing) before rendering and scoring end.
    """
    setup = study.rerank
    if setup.pairs_built_at is not None:
        return 0
    progress = rerank_progress(study=study)
    if not progress.ready:
        raise ValidationError(progress.waiting_text(), code="not_ready")
    with transaction.atomic():
        setup = RerankSetup.objects.select_for_update().get(pk=study.pk)
        if setup.pairs_built_at is not None:
            return 0
        images = list(rerank_candidate_images(study_id=study.pk).order_by("prompt_id", "seed"))
        scores = {
            (image_id, metric): value
            for image_id, metric, value in ImageScore.objects.filter(
                image__in=images, metric__in=setup.scorers
            ).values_list("image_id", "metric", "value")
        }
        by_prompt: dict[int, list[Image]] = {}
        for image in images:
            by_prompt.setdefault(image.prompt_id, []).append(image)
        chosen: list[tuple[int, str, Image, Image]] = []  # prompt, scorer, pick, other
        pairs: list[tuple[Image, Image, int]] = []  # picks first: their pair keeps their seed
        members: list[Image] = []
        for prompt_id, candidates in by_prompt.items():
            picks: list[Image] = []
            for scorer in setup.scorers:
                pick = _top(candidates, scorer, scores)
                rng = random.Random(f"rerank:{study.pk}:{prompt_id}:{scorer}")
                other = rng.choice([c for c in candidates if c.pk != pick.pk])
                chosen.append((prompt_id, scorer, pick, other))
                pairs.append((pick, other, pick.seed))
                if pick not in picks:
                    picks.append(pick)
            if setup.tournament_size:
                mine = _tournament_members(study, prompt_id, candidates, picks, setup)
                members += mine
                pairs += [(a, b, min(a.seed, b.seed)) for a, b in combinations(mine, 2)]
        created = comparisons_ensure(study=study, pairs=pairs)
        comparison_of = {
            (a, b): pk
            for pk, a, b in Comparison.objects.filter(study=study).values_list(
                "pk", "image_a_id", "image_b_id"
            )
        }
        RerankPick.objects.bulk_create(
            RerankPick(
                study=study,
                prompt_id=prompt_id,
                scorer=scorer,
                pick=pick,
                other=other,
                comparison_id=comparison_of[(min(pick.pk, other.pk), max(pick.pk, other.pk))],
            )
            for prompt_id, scorer, pick, other in chosen
        )
        RerankCandidate.objects.filter(study=study, image__in=members).update(in_tournament=True)
        setup.pairs_built_at = timezone.now()
        setup.save(update_fields=["pairs_built_at"])
    return created


def _top(candidates: list[Image], scorer: str, scores: dict[tuple[int, str], float]) -> Image:
    """The scorer's top candidate; a tie goes to the lower seed."""
    return max(candidates, key=lambda image: (scores[(image.pk, scorer)], -image.seed))


def _tournament_members(
    study: Study,
    prompt_id: int,
    candidates: list[Image],
    picks: list[Image],
    setup: RerankSetup,
) -> list[Image]:
    rng = random.Random(f"rerank:{study.pk}:{prompt_id}:tournament")
    rest = [c for c in candidates if c not in picks]
    rng.shuffle(rest)
    size = max(setup.tournament_size, len(picks))
    return picks + rest[: size - len(picks)]
