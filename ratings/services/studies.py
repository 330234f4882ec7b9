"""Writes for studies: creation, launch, comparisons."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Prefetch, prefetch_related_objects
from django.utils import timezone

from generation.designs import design_pairs
from generation.models import GenerationConfig, Image, Prompt
from generation.services.images import images_ensure
from generation.services.rendering import images_retry
from generation.validation import FREE_TEXT_MAX_CHARS
from ratings.models import DEFAULT_CRITERIA, AuditEvent, Comparison, Criterion, Study
from ratings.selectors import study_images
from ratings.services.audit import Actor, audit_record

#: The one rule for a study's instructions (the form relies on it, the API's schema repeats it).
INSTRUCTIONS_TOO_LONG = f"Instructions must be at most {FREE_TEXT_MAX_CHARS} characters."


def _instructions_clean(fields: dict[str, Any]) -> None:
    """Strip the instructions in `fields`, if given; refuse them past FREE_TEXT_MAX_CHARS."""
    text = fields.get("instructions")
    if not isinstance(text, str):
        return
    fields["instructions"] = text.strip()
    if len(fields["instructions"]) > FREE_TEXT_MAX_CHARS:
        too_long = ValidationError(INSTRUCTIONS_TOO_LONG, code="max_length")
        raise ValidationError({"instructions": too_long})


def study_create(
    *,
    name: str,
    prompts: Sequence[Prompt],
    configs: Sequence[GenerationConfig],
    baseline: GenerationConfig | None = None,
    criteria: Sequence[tuple[str, str, str]] = DEFAULT_CRITERIA,
    raters: Sequence[Any] = (),
    rater_groups: Sequence[Any] = (),
    **fields: Any,
) -> Study:
    """A draft study with its prompts, configurations, criteria, raters and rater groups, all
    or nothing. A pairwise study's baseline is its first configuration unless one is given.
    Not safe to run twice: each run is a new study."""
    _instructions_clean(fields)
    with transaction.atomic():
        study = Study(name=name, baseline=baseline, **fields)
        if study.kind == Study.Kind.PAIRWISE:
            study.baseline = baseline or _first(configs)
        study.full_clean()
        _decision_pair_check(study, configs)
        study.save()
        study.prompts.set(prompts)
        study.configs.set(configs)
        study.raters.set(raters)
        study.rater_groups.set(rater_groups)
        _criteria_set(study=study, criteria=criteria)
    return study


def _pair_check(first: Image, second: Image, seed: int | None) -> None:
    if first.pk == second.pk:
        raise ValidationError("A comparison needs two different images.", code="same_image")
    if seed is None and (first.prompt_id != second.prompt_id or first.seed != second.seed):
        raise ValidationError(
            "Both images of a comparison must share prompt and seed (only the config differs).",
            code="unpaired",
        )
    if seed is not None and (
        first.prompt_id != second.prompt_id or first.config_id != second.config_id
    ):
        raise ValidationError(
            "Both candidates of a best-of-N comparison must share prompt and configuration.",
            code="unpaired",
        )


def _comparison(study: Study, first: Image, second: Image, seed: int | None) -> Comparison:
    """An unsaved comparison of the two images, stored low id first (the database's rule)."""
    _pair_check(first, second, seed)
    low, high = sorted((first, second), key=lambda image: image.pk)
    return Comparison(
        study=study,
        image_a=low,
        image_b=high,
        prompt_id=low.prompt_id,
        seed=low.seed if seed is None else seed,
    )


def comparison_create(
    *, study: Study, first: Image, second: Image, seed: int | None = None
) -> tuple[Comparison, bool]:
    """Get or create the comparison of two images of the same prompt and seed. Safe to rerun.

    With `seed` (best-of-N studies): two images of the same prompt and configuration, seeds
    apart; the comparison records the given seed (the scorer's pick's).
    """
    made = _comparison(study, first, second, seed)
    return Comparison.objects.get_or_create(
        study=study,
        image_a=made.image_a,
        image_b=made.image_b,
        defaults={"prompt_id": made.prompt_id, "seed": made.seed},
    )


def rows_insert_missing(model: type[Model], rows: Sequence[Model], *, study: Study) -> int:
    """Insert `rows` of one study in bulk, skipping those the database already holds (its
    unique constraints decide); returns how many were new."""
    if not rows:
        return 0
    manager = model._default_manager
    before = manager.filter(study=study).count()
    manager.bulk_create(rows, ignore_conflicts=True)
    return manager.filter(study=study).count() - before


def comparisons_ensure(*, study: Study, pairs: Iterable[tuple[Image, Image, int | None]]) -> int:
    """The comparisons of image pairs (first, second, seed), in one insert, checked as
    comparison_create checks them (seed None: same prompt and seed; a seed: best-of-N
    candidates). A pair listed twice keeps its first seed. Safe to rerun: existing ones are
    kept. Returns how many are new."""
    rows: dict[tuple[int, int], Comparison] = {}
    for first, second, seed in pairs:
        made = _comparison(study, first, second, seed)
        rows.setdefault((made.image_a.pk, made.image_b.pk), made)
    return rows_insert_missing(Comparison, list(rows.values()), study=study)


def study_prefetch_setup(study: Study) -> None:
    """Load a study's configurations (with their adapters) and prompts once, for every
    `.all()` that follows (study_launch_problems, the launch, the study page)."""
    configs = GenerationConfig.objects.prefetch_related("adapter_links__adapter")
    prefetch_related_objects([study], Prefetch("configs", queryset=configs), "prompts")


def study_launch_problems(study: Study) -> list[str]:
    if study.kind == Study.Kind.RERANK:
        from ratings.rerank.services import rerank_launch_problems

        return rerank_launch_problems(study)
    # Read through .all(): a list of studies prefetches prompts and configs (StudyViewSet).
    configs = {c.pk for c in study.configs.all()}
    problems = []
    if not study.prompts.all():
        problems.append("The study has no prompts: add at least one.")
    if study.kind == Study.Kind.CHECKLIST:
        if not configs:
            problems.append("The study has no configurations: add at least one.")
    elif len(configs) < 2:
        problems.append("The study needs at least two configurations to compare.")
    if study.seeds_per_prompt < 1:
        problems.append("The study needs at least one seed per prompt.")
    if study.design == Study.Design.VS_BASELINE and study.baseline_id not in configs:
        problems.append("The 'each vs baseline' design needs a baseline among its configurations.")
    if study.status == Study.Status.CLOSED:
        problems.append("The study is closed.")
    return problems


@dataclass(frozen=True)
class LaunchResult:
    images_created: int
    images_reused: int
    comparisons_created: int


def study_launch(*, study: Study, actor: Actor = None) -> LaunchResult:
    """Create the study's Images and Comparisons and enqueue rendering after commit.

    Safe to run twice: existing images and comparisons are reused, nothing is duplicated.
    A launch that changed something is written to the audit log with its actor. A best-of-N
    study launches its candidates instead (ratings.rerank.services.rerank_launch).
    """
    if study.kind == Study.Kind.RERANK:
        from ratings.rerank.services import rerank_launch

        return rerank_launch(study=study, actor=actor)
    study_prefetch_setup(study)  # read once: by the launch problems and by the launch
    problems = study_launch_problems(study)
    if problems:
        raise ValidationError(problems)
    configs = list(study.configs.all())
    # A checklist study asks about every image alone: no pairs.
    checklist = study.kind == Study.Kind.CHECKLIST
    pairs = (
        []
        if checklist
        else design_pairs(
            design=study.design,
            config_ids=[c.pk for c in configs],
            params={c.pk: c.design_params() for c in configs},
            baseline_id=study.baseline_id,
        )
    )
    wanted_configs = sorted(
        {c.pk for c in configs} if checklist else {cid for pair in pairs for cid in pair}
    )
    prompt_ids = [p.pk for p in study.prompts.all()]
    seeds = study.seeds()
    with transaction.atomic():
        ensured = images_ensure(
            (config_id, prompt_id, seed)
            for prompt_id in prompt_ids
            for seed in seeds
            for config_id in wanted_configs
        )
        images = ensured.images
        comparisons = comparisons_ensure(
            study=study,
            pairs=(
                (images[(a, prompt_id, seed)], images[(b, prompt_id, seed)], None)
                for prompt_id in prompt_ids
                for seed in seeds
                for a, b in pairs
            ),
        )
        if checklist:
            from ratings.checklists.services import checklist_images_add

            comparisons += checklist_images_add(study=study, images=images.values())
        result = LaunchResult(ensured.created, ensured.reused, comparisons)
        study_launch_record(study=study, actor=actor, result=result)
        # Pairs whose answer is obvious (5 vs 50 steps) check raters' attention for free.
        from ratings.services.gold import gold_mark_obvious

        gold_mark_obvious(study=study)
        transaction.on_commit(_enqueue_rendering)
    return result


def study_launch_record(*, study: Study, actor: Actor, result: LaunchResult) -> None:
    """Inside a launch's transaction: a draft study becomes rendering; a launch that changed
    something is audited. Every kind of study launches through it."""
    first_launch = study.status == Study.Status.DRAFT
    if first_launch:
        study.status = Study.Status.RENDERING
        study.launched_at = timezone.now()
        study.save(update_fields=["status", "launched_at"])
    if first_launch or result.images_created or result.comparisons_created:
        # The event's detail is the launch's result: the History reads the same counts.
        audit_record(
            action=AuditEvent.Action.STUDY_LAUNCHED,
            actor=actor,
            study=study,
            first_launch=first_launch,
            **asdict(result),
        )


def _enqueue_rendering() -> None:
    from generation.services.rendering import images_dispatch

    images_dispatch()


# --- Editing, opening and closing -----------------------------------------------------------

# What decides the images and comparisons: fixed once a study has launched.
STRUCTURAL_FIELDS = ("seeds_per_prompt", "base_seed", "design", "baseline")


def _first(configs: Iterable[GenerationConfig]) -> GenerationConfig | None:
    """The baseline of a pairwise study that names none: its first configuration (by id)."""
    return min(configs, key=lambda c: c.pk, default=None)


def _decision_pair_check(study: Study, configs: Iterable[GenerationConfig]) -> None:
    """A "pair" decision rule decides between two of the study's own configurations (the
    model's clean checks that both are given and differ)."""
    if study.decision_rule != Study.DecisionRule.PAIR:
        return
    chosen = {c.pk for c in configs}
    errors = {
        name: "Choose one of the study's configurations."
        for name in ("decision_a", "decision_b")
        if getattr(study, f"{name}_id") not in (None, *chosen)
    }
    if errors:
        raise ValidationError(errors, code="decision_pair")


def _criteria_set(*, study: Study, criteria: Sequence[tuple[str, str, str]]) -> None:
    keys = [key for key, _, _ in criteria]
    if len(set(keys)) != len(keys):
        raise ValidationError({"criteria": "Two criteria have the same key."}, code="criteria")
    if not criteria:
        raise ValidationError({"criteria": "A study needs at least one criterion."})
    existing = {c.key: c for c in study.criteria.all()}
    if study.status != Study.Status.DRAFT and set(existing) - set(keys):
        judged = Criterion.objects.filter(
            study=study, key__in=set(existing) - set(keys), judgments__isnull=False
        ).exists()
        if judged:
            raise ValidationError(
                {"criteria": "A criterion with judgments cannot be removed."}, code="criteria"
            )
    study.criteria.exclude(key__in=keys).delete()
    for order, (key, label, question) in enumerate(criteria):
        criterion = existing.get(key) or Criterion(study=study, key=key)
        criterion.label, criterion.question, criterion.order = label, question, order
        criterion.full_clean(exclude=["study"])
        criterion.save()


def study_update(
    *,
    study: Study,
    prompts: Sequence[Prompt] | None = None,
    configs: Sequence[GenerationConfig] | None = None,
    criteria: Sequence[tuple[str, str, str]] | None = None,
    raters: Sequence[Any] | None = None,
    rater_groups: Sequence[Any] | None = None,
    **fields: Any,
) -> Study:
    """Edit a study. Safe to run twice.

    Once launched, what decides the images and comparisons (prompts, configs, seeds, design,
    baseline) is fixed; name, instructions, criteria, targets and raters stay editable.
    """
    _instructions_clean(fields)
    launched = study.status != Study.Status.DRAFT
    if launched:
        changed = [
            name
            for name in STRUCTURAL_FIELDS
            if name in fields and getattr(study, name) != fields[name]
        ]
        if prompts is not None and {p.pk for p in prompts} != set(
            study.prompts.values_list("pk", flat=True)
        ):
            changed.append("prompts")
        if configs is not None and {c.pk for c in configs} != set(
            study.configs.values_list("pk", flat=True)
        ):
            changed.append("configs")
        if changed:
            raise ValidationError(
                {
                    name: "The study has been launched: its prompts, configurations, seeds "
                    "and design are fixed. Create a new study to change them."
                    for name in changed
                },
                code="launched",
            )
    with transaction.atomic():
        for name, value in fields.items():
            setattr(study, name, value)
        # The configurations it will have; a lazy queryset, read at most once by the two below.
        chosen = configs if configs is not None else study.configs.all()
        if study.kind == Study.Kind.PAIRWISE and study.baseline_id is None and not launched:
            study.baseline = _first(chosen)
        study.full_clean()
        _decision_pair_check(study, chosen)
        study.save()
        if prompts is not None:
            study.prompts.set(prompts)
        if configs is not None:
            study.configs.set(configs)
        if raters is not None:
            study.raters.set(raters)
        if rater_groups is not None:
            study.rater_groups.set(rater_groups)
        if criteria is not None:
            _criteria_set(study=study, criteria=criteria)
    return study


def study_retry_failed(*, study: Study, image_ids: Iterable[int] | None = None) -> int:
    """Queue the study's failed images again: all of them, or those of `image_ids` (ids of other
    images are passed over). Returns how many were queued; raises RenderQueueUnavailable (after
    committing) when the broker does not take them."""
    failed = study_images(study_id=study.pk).filter(status=Image.Status.FAILED)
    if image_ids is not None:
        failed = failed.filter(pk__in=list(image_ids))
    return images_retry(image_ids=list(failed.values_list("pk", flat=True)))


def study_open(*, study: Study, actor: Actor = None) -> Study:
    """Let raters judge the study. Safe to run twice (audited once). Needs a launched study;
    a best-of-N study first builds its pairs, which needs every candidate rendered and scored."""
    if study.status == Study.Status.DRAFT:
        raise ValidationError("Launch the study before opening it to raters.", code="draft")
    if study.kind == Study.Kind.RERANK:
        from ratings.rerank.services import rerank_pairs_build

        rerank_pairs_build(study=study)
    _status_set(study=study, status=Study.Status.OPEN, actor=actor)
    return study


def study_close(*, study: Study, actor: Actor = None) -> Study:
    """Stop raters from judging the study. Safe to run twice (audited once)."""
    if study.status == Study.Status.DRAFT:
        raise ValidationError("A draft study is not open: there is nothing to close.")
    _status_set(study=study, status=Study.Status.CLOSED, actor=actor)
    return study


def _status_set(*, study: Study, status: Study.Status, actor: Actor) -> None:
    with transaction.atomic():
        # Conditional UPDATE: of two racing requests only the one that changed the row
        # writes the audit event.
        changed = Study.objects.filter(pk=study.pk).exclude(status=status).update(status=status)
        if changed:
            audit_record(
                action=AuditEvent.Action.STUDY_OPENED
                if status == Study.Status.OPEN
                else AuditEvent.Action.STUDY_CLOSED,
                actor=actor,
                study=study,
                previous_status=study.status,
            )
    study.status = status
