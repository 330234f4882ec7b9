"""Reads for the generation app."""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from generation.designs import Design, design_pairs
from generation.models import GenerationConfig, Image, Prompt, WorkerHeartbeat

if TYPE_CHECKING:
    from generation.services.configs import ConfigDraft


@dataclass(frozen=True)
class RenderProgress:
    pending: int
    queued: int
    rendering: int
    done: int
    failed: int
    # Expected seconds per remaining image: the median render time of done images of the same
    # base model, size and steps, weighted by how many of each kind remain (see render_progress).
    seconds_per_image: float | None
    active_workers: int
    # Kinds of remaining image ("tiny-random 256×256, 4 steps") with no render measured yet:
    # their time is the model's documented default, and the ETA says it is a guess.
    unmeasured: tuple[str, ...] = ()

    @classmethod
    def from_counts(
        cls,
        counts: dict[str, int],
        *,
        seconds_per_image: float | None = None,
        active_workers: int = 0,
        unmeasured: tuple[str, ...] = (),
    ) -> RenderProgress:
        """From image counts by status (a status missing counts 0); without the timing
        arguments, counts only (no ETA)."""
        return cls(
            pending=counts.get(Image.Status.PENDING, 0),
            queued=counts.get(Image.Status.QUEUED, 0),
            rendering=counts.get(Image.Status.RENDERING, 0),
            done=counts.get(Image.Status.DONE, 0),
            failed=counts.get(Image.Status.FAILED, 0),
            seconds_per_image=seconds_per_image,
            active_workers=active_workers,
            unmeasured=unmeasured,
        )

    @property
    def total(self) -> int:
        return self.pending + self.queued + self.rendering + self.done + self.failed

    @property
    def remaining(self) -> int:
        return self.pending + self.queued + self.rendering

    @property
    def percent(self) -> int:
        """Done images only, rounded down: a failed image never counts toward 100 %."""
        return 100 if not self.total else 100 * self.done // self.total

    @property
    def failed_percent(self) -> int:
        return 0 if not self.total else -(-100 * self.failed // self.total)

    @property
    def measured(self) -> bool:
        return self.seconds_per_image is not None and not self.unmeasured

    @property
    def eta_seconds(self) -> float | None:
        if not self.remaining:
            return 0.0
        if self.seconds_per_image is None:
            return None
        return self.remaining * self.seconds_per_image / max(1, self.active_workers)


# How many of the latest renders of one kind (model, size, steps) set its time per image.
THROUGHPUT_SAMPLE = 50
_KIND = ("config__base_model", "config__width", "config__height", "config__steps")
_ACTIVE = (Image.Status.PENDING, Image.Status.QUEUED, Image.Status.RENDERING)

# Seconds per image when nothing has been measured yet. tiny-random renders 256² in a blink on
# a CPU; SD 1.5 at 512² and 20–30 steps takes a few seconds on one GPU.
DEFAULT_SECONDS_PER_IMAGE: dict[str, float] = {"tiny-random": 0.5, "sd15-random": 3.0}
DEFAULT_SECONDS_PER_IMAGE_OTHER = 3.0


# What render time depends on: base model, width, height, steps.
RenderKind = tuple[str, int, int, int]


def render_kind(params: Mapping[str, Any]) -> RenderKind:
    """The kind of a configuration's images, from its params() or design_params()."""
    return (params["base_model"], params["width"], params["height"], params["steps"])


def _kind_label(kind: RenderKind) -> str:
    model, width, height, steps = kind
    return f"{model} {width}×{height}, {steps} steps"


def seconds_per_image_measured(
    *, base_model: str, width: int, height: int, steps: int
) -> float | None:
    """Median render time of the latest done images of this model, size and steps, or None."""
    recent: list[float] = list(
        Image.objects.filter(
            status=Image.Status.DONE,
            render_seconds__isnull=False,
            config__base_model=base_model,
            config__width=width,
            config__height=height,
            config__steps=steps,
        )
        .order_by("-rendered_at")
        .values_list("render_seconds", flat=True)[:THROUGHPUT_SAMPLE]  # type: ignore[arg-type]
    )
    return statistics.median(recent) if recent else None


def seconds_per_image(*, kind: RenderKind) -> tuple[float, bool]:
    """The one estimate of an image's render time, behind every ETA and preview: measured on
    the latest renders of its kind, else the model's documented default. (seconds, measured)"""
    model, width, height, steps = kind
    measured = seconds_per_image_measured(base_model=model, width=width, height=height, steps=steps)
    if measured is None:
        return DEFAULT_SECONDS_PER_IMAGE.get(model, DEFAULT_SECONDS_PER_IMAGE_OTHER), False
    return measured, True


def active_workers() -> int:
    """Hosts that finished an image in the last five minutes or are rendering one now.

    The ETA's question: how many hosts share the remaining work. Counted from images, not
    heartbeats (workers_recent), because a heartbeat says a worker is up, not that it renders.
    """
    since = timezone.now() - timedelta(minutes=5)
    return (
        Image.objects.filter(Q(rendered_at__gte=since) | Q(status=Image.Status.RENDERING))
        .exclude(worker_host="")
        .values("worker_host")
        .distinct()
        .count()
    )


def render_progress(*, images: QuerySet[Image] | None = None) -> RenderProgress:
    """Counts per status and the time the remaining images should take (for the ETA).

    Time per image is measured per kind of image (seconds_per_image), so a queue of 50-step
    768² images is not timed by the 4-step 256² ones done before; a kind never rendered falls
    back to the model's default and is named in `unmeasured`. `images`: the ones to count
    (default: all; a study's: ratings.selectors).
    """
    if images is None:
        images = Image.objects.all()
    counts = dict(images.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    kinds = list(
        images.filter(status__in=_ACTIVE).values_list(*_KIND).annotate(n=Count("pk")).order_by()
    )
    spent = 0.0
    unmeasured: list[str] = []
    for model, width, height, steps, n in kinds:
        kind = (model, width, height, steps)
        each, measured = seconds_per_image(kind=kind)
        if not measured:
            unmeasured.append(_kind_label(kind))
        spent += n * each
    waiting = sum(n for *_, n in kinds)
    per_image: float | None = spent / waiting if waiting else None
    if per_image is None:
        done: list[float] = list(
            images.filter(status=Image.Status.DONE, render_seconds__isnull=False)
            .order_by("-rendered_at")
            .values_list("render_seconds", flat=True)[:THROUGHPUT_SAMPLE]  # type: ignore[arg-type]
        )
        per_image = statistics.median(done) if done else None
    return RenderProgress.from_counts(
        counts,
        seconds_per_image=per_image,
        active_workers=active_workers(),
        unmeasured=tuple(unmeasured),
    )


# --- Builder preview ------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderEstimate:
    """Seconds per image of each configuration (by the caller's key), shared by `workers`."""

    per_config: Mapping[int, float]
    # Kinds ("tiny-random 256×256, 50 steps") timed by the model's default: none rendered yet.
    unmeasured: tuple[str, ...]
    workers: int

    @property
    def measured(self) -> bool:
        return bool(self.per_config) and not self.unmeasured

    @property
    def seconds_per_image(self) -> float | None:
        """Mean over the configurations: in a study each has prompts × seeds images."""
        return statistics.fmean(self.per_config.values()) if self.per_config else None

    def seconds(self, *, configs: Iterable[int], images_each: int) -> float:
        """Time to render `images_each` images of each of these configurations."""
        total = images_each * sum(self.per_config[c] for c in configs)
        return total / max(1, self.workers)


def render_estimate(*, params: Mapping[int, Mapping[str, Any]]) -> RenderEstimate:
    """Render time per image of each configuration, from its kind (seconds_per_image, as the
    progress page's ETA). `params` maps a config key to its params() or design_params()."""
    kinds = {key: render_kind(p) for key, p in params.items()}
    each = {kind: seconds_per_image(kind=kind) for kind in set(kinds.values())}
    return RenderEstimate(
        per_config={key: each[kind][0] for key, kind in kinds.items()},
        unmeasured=tuple(_kind_label(k) for k in sorted(each) if not each[k][1]),
        workers=active_workers(),
    )


@dataclass(frozen=True)
class DesignCount:
    design: str
    label: str
    configs_used: int
    pairs_per_cell: int
    comparisons: int
    images: int
    seconds: float | None
    problem: str = ""


def design_counts(
    *,
    params: Mapping[int, Mapping[str, Hashable]],
    prompts: int,
    seeds: int,
    baseline_id: int | None,
    estimate: RenderEstimate | None = None,
) -> list[DesignCount]:
    """How many comparisons and images each study design needs for these configurations.

    `params` maps a config key (id, or draft index) to what the design compares.
    """
    cells = prompts * seeds
    rows = []
    for design, label in Design.choices:
        try:
            pairs = design_pairs(
                design=design, config_ids=list(params), params=params, baseline_id=baseline_id
            )
        except ValueError as error:
            rows.append(DesignCount(design, str(label), 0, 0, 0, 0, None, str(error)))
            continue
        used = {c for pair in pairs for c in pair}
        images = len(used) * cells
        rows.append(
            DesignCount(
                design=design,
                label=str(label),
                configs_used=len(used),
                pairs_per_cell=len(pairs),
                comparisons=len(pairs) * cells,
                images=images,
                seconds=(
                    estimate.seconds(configs=used, images_each=cells)
                    if estimate is not None
                    else None
                ),
            )
        )
    return rows


def config_thumbnail_grid(
    *, config_ids: Sequence[int], seed: int | None = None
) -> tuple[list[int], int | None, list[tuple[Prompt, list[Image | None]]]]:
    """An X/Y plot for one seed: rows are prompts, columns the configs, cells the images.

    Returns the seeds on offer, the seed shown, and one row per prompt with an image for it.
    """
    images = Image.objects.filter(config_id__in=config_ids).select_related("prompt")
    seeds = sorted(set(images.values_list("seed", flat=True)))
    if not seeds:
        return [], None, []
    chosen = seed if seed in seeds else seeds[0]
    by_cell = {(i.prompt_id, i.config_id): i for i in images.filter(seed=chosen)}
    prompts = sorted({i.prompt for i in by_cell.values()}, key=lambda p: (p.category, p.pk))
    rows = [(p, [by_cell.get((p.pk, cid)) for cid in config_ids]) for p in prompts]
    return seeds, chosen, rows


def configs_by_fingerprint(*, fingerprints: Sequence[str]) -> dict[str, GenerationConfig]:
    return {c.fingerprint: c for c in GenerationConfig.objects.filter(fingerprint__in=fingerprints)}


def config_neighbours(*, config: GenerationConfig, limit: int = 8) -> list[GenerationConfig]:
    """The config first, then configs that share a study with it (for the X/Y grid)."""
    others = (
        GenerationConfig.objects.filter(studies__configs=config)
        .exclude(pk=config.pk)
        .distinct()
        .order_by("pk")[: limit - 1]
    )
    return [config, *others]


def prompts_filtered(*, q: str = "", **attributes: str) -> QuerySet[Prompt]:
    prompts = Prompt.objects.all()
    for name, value in attributes.items():
        if value:
            prompts = prompts.filter(**{name: value})
    if q:
        prompts = prompts.filter(Q(text__icontains=q) | Q(category__icontains=q))
    # GROUP BY queries ignore Meta.ordering: order explicitly.
    return prompts.annotate(n_images=Count("images", distinct=True)).order_by("category", "pk")


@dataclass(frozen=True)
class BuilderPreview:
    drafts: Sequence[ConfigDraft]
    existing: dict[str, GenerationConfig]
    counts: list[DesignCount]
    estimate: RenderEstimate

    @property
    def reused(self) -> int:
        return sum(1 for d in self.drafts if d.fingerprint in self.existing)


def builder_preview(*, drafts: Sequence[ConfigDraft], prompts: int, seeds: int) -> BuilderPreview:
    """What the factor builder would create and what each study design would then need.

    The first draft is the baseline (the 'each vs baseline' row uses it). Render time comes
    from each draft's own kind (model, size, steps).
    """
    params = {index: draft.design_params() for index, draft in enumerate(drafts)}
    estimate = render_estimate(params=params)
    return BuilderPreview(
        drafts=drafts,
        existing=configs_by_fingerprint(fingerprints=[d.fingerprint for d in drafts]),
        counts=design_counts(
            params=params,
            prompts=prompts,
            seeds=seeds,
            baseline_id=0,
            estimate=estimate,
        ),
        estimate=estimate,
    )


# The progress page's worker panel lists workers heard from in this window.
WORKERS_PANEL_MINUTES = 10


def workers_recent(*, minutes: int = WORKERS_PANEL_MINUTES) -> list[WorkerHeartbeat]:
    """Render workers heard from lately, newest first (the progress page's worker panel).

    The panel's question: which workers have been at work lately, with their device, models
    and speed, a stopped one still listed with its last heartbeat's age. Not the ETA's divisor
    (active_workers) nor /healthz's liveness (evalsite.health: the last minute).
    """
    since = timezone.now() - timedelta(minutes=minutes)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=since).order_by("-last_seen"))
