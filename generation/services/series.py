"""Writes for LoRA checkpoint series: register a training run's folder, render its grid.

A series is a folder of .safetensors checkpoints of one LoRA training run, each with its
training step (from the file name, else from the file's safetensors metadata), and optionally
the run's loss log as CSV (step,loss). Each checkpoint becomes a LoraAdapter (checked and hashed
like any adapter) and a GenerationConfig: the series' base configuration plus that checkpoint.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from safetensors import SafetensorError, safe_open

from generation.adapter_files import lora_file_problem, server_path_resolve
from generation.files import file_sha256
from generation.models import (
    Checkpoint,
    CheckpointSeries,
    GenerationConfig,
    Prompt,
)
from generation.series_selectors import series_checkpoints
from generation.services.adapters import adapter_save
from generation.services.configs import config_copy
from generation.services.images import images_ensure
from generation.services.rendering import images_dispatch
from generation.validation import seed_validators

#: More checkpoints than a grid can show or a study can compare in all pairs.
SERIES_MAX_CHECKPOINTS = 24
#: A loss log this long is already far more points than a chart can show.
LOSS_MAX_ROWS = 100_000
LOSS_MAX_BYTES = 4 * 1024 * 1024
#: The loss log read from the folder when none is given.
LOSS_FILE_NAME = "loss.csv"
#: Metadata keys that trainers write the step under (kohya: ss_steps).
STEP_METADATA_KEYS = ("step", "global_step", "ss_steps", "ss_global_step")
GRID_MAX_IMAGES = 2000
#: Distinct seeds one grid render takes: a grid compares checkpoints, not seeds.
GRID_MAX_SEEDS = 16
_NAME_TAKEN = "A series with this name already exists; choose another name."

# "name-000500", "name_500", "step500", "step_500", "checkpoint-500", "ckpt500", "500".
_STEP_IN_NAME = re.compile(r"(?:^|[-_.\s]|step|checkpoint|ckpt)(\d{1,9})$", re.IGNORECASE)


def step_from_name(stem: str) -> int | None:
    """The training step a checkpoint's file name ends with, or None. Pure."""
    match = _STEP_IN_NAME.search(stem)
    return int(match.group(1)) if match else None


def step_from_metadata(path: Path) -> int | None:
    """The step a trainer wrote into the file's safetensors metadata, or None."""
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError):
        return None
    for key in STEP_METADATA_KEYS:
        value = str(metadata.get(key, "")).strip()
        if value.isdecimal():
            return int(value)
    return None


@dataclass(frozen=True)
class FoundCheckpoint:
    path: Path
    step: int
    sha256: str


def series_folder_scan(folder: Path) -> list[FoundCheckpoint]:
    """The folder's LoRA checkpoints in step order; ValidationError (field `folder`) naming the
    file for one without a step, one that is not a LoRA, two with the same step or bytes."""
    if not folder.is_dir():
        raise ValidationError({"folder": "No folder at that path in the adapter folders."})
    files = sorted(p for p in folder.iterdir() if p.suffix == ".safetensors" and p.is_file())
    if len(files) < 2:
        raise ValidationError(
            {"folder": f"The folder holds {len(files)} .safetensors file(s); a series needs at "
                       "least two checkpoints."}
        )  # fmt: skip
    if len(files) > SERIES_MAX_CHECKPOINTS:
        raise ValidationError(
            {"folder": f"The folder holds {len(files)} checkpoints; a series takes at most "
                       f"{SERIES_MAX_CHECKPOINTS} (move the others out)."}
        )  # fmt: skip
    found: list[FoundCheckpoint] = []
    by_step: dict[int, Path] = {}
    by_hash: dict[str, Path] = {}
    for path in files:
        problem = lora_file_problem(path)
        if problem:
            raise ValidationError({"folder": f"{path.name}: {problem}."})
        step = step_from_name(path.stem)
        if step is None:
            step = step_from_metadata(path)
        if step is None:
            raise ValidationError(
                {"folder": f"{path.name}: no training step in its name (end it with the step, "
                           "e.g. name-000500.safetensors, step_500, checkpoint-500) nor in its "
                           "metadata (step, global_step or ss_steps)."}
            )  # fmt: skip
        if step in by_step:
            raise ValidationError(
                {"folder": f"{by_step[step].name} and {path.name} are both step {step}."}
            )
        digest = file_sha256(path)
        if digest in by_hash:
            raise ValidationError(
                {"folder": f"{by_hash[digest].name} and {path.name} are the same file."}
            )
        by_step[step], by_hash[digest] = path, path
        found.append(FoundCheckpoint(path=path, step=step, sha256=digest))
    return sorted(found, key=lambda c: c.step)


def loss_log_parse(text: str) -> list[tuple[int, float]]:
    """(step, loss) rows from CSV text with a header naming `step` and `loss` columns, in step
    order. ValidationError (field `loss_log`) naming the line and the rule. Pure."""

    def error(message: str) -> ValidationError:
        return ValidationError({"loss_log": message}, code="loss_log")

    if len(text.encode("utf-8", "replace")) > LOSS_MAX_BYTES:
        raise error(f"The loss log is larger than {LOSS_MAX_BYTES // 2**20} MiB.")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    names = [h.strip().lower() for h in header or []]
    if "step" not in names or "loss" not in names:
        raise error("The first line must name the columns, with “step” and “loss” among them.")
    step_at, loss_at = names.index("step"), names.index("loss")
    rows: dict[int, float] = {}
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) <= max(step_at, loss_at):
            raise error(f"Line {line}: needs a step and a loss.")
        raw_step, raw_loss = record[step_at].strip(), record[loss_at].strip()
        try:
            step = int(raw_step)
        except ValueError:
            raise error(f"Line {line}: step {raw_step[:20]!r} is not a whole number.") from None
        if step < 0:
            raise error(f"Line {line}: step {step} is negative.")
        try:
            loss = float(raw_loss)
        except ValueError:
            raise error(f"Line {line}: loss {raw_loss[:20]!r} is not a number.") from None
        if not math.isfinite(loss):
            raise error(f"Line {line}: loss {raw_loss[:20]!r} is not a finite number.")
        if step in rows:
            raise error(f"Line {line}: step {step} appears twice.")
        rows[step] = loss
        if len(rows) > LOSS_MAX_ROWS:
            raise error(f"The loss log has more than {LOSS_MAX_ROWS} rows.")
    if not rows:
        raise error("The loss log has a header but no rows.")
    return sorted(rows.items())


def _loss_from_folder(folder: Path) -> str:
    path = folder / LOSS_FILE_NAME
    if not path.is_file():
        return ""
    if path.stat().st_size > LOSS_MAX_BYTES:
        raise ValidationError(
            {"loss_log": f"{LOSS_FILE_NAME} is larger than {LOSS_MAX_BYTES // 2**20} MiB."}
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise ValidationError(
            {"loss_log": f"{LOSS_FILE_NAME} is not readable UTF-8 text."}
        ) from None


def series_register(
    *,
    name: str,
    folder: str,
    base_config: GenerationConfig,
    scale: float = 1.0,
    trigger_token: str = "",
    loss_csv: str = "",
) -> CheckpointSeries:
    """Register a training run: every checkpoint in `folder` becomes an adapter and a
    configuration (the base configuration plus it, at `scale`), all or nothing.

    `loss_csv`: the loss log as CSV text; blank reads loss.csv from the folder if there is one.
    Not safe to run twice under the same name: the second run is refused (names are unique).
    """
    errors: dict[str, list[str]] = {}
    candidate = CheckpointSeries(
        name=name, folder=folder, base_config=base_config, scale=scale, trigger_token=trigger_token
    )
    try:
        candidate.full_clean(exclude=["folder", "loss_log"], validate_unique=False)
    except ValidationError as error:
        errors.update(error.message_dict)
    if CheckpointSeries.objects.filter(name=name).exists():
        errors.setdefault("name", []).append(_NAME_TAKEN)
    if base_config.adapter_links.exists():
        errors.setdefault("base_config", []).append(
            "Choose a base configuration without adapters: each checkpoint is added to it."
        )
    if errors:
        raise ValidationError(errors)
    path = server_path_resolve(
        folder, roots=[Path(r) for r in settings.LOUPE_ADAPTER_ROOTS], field="folder"
    )
    found = series_folder_scan(path)
    text = loss_csv if loss_csv.strip() else _loss_from_folder(path)
    loss = loss_log_parse(text) if text.strip() else []
    candidate.folder = str(path)
    candidate.loss_log = [[step, value] for step, value in loss]
    try:
        with transaction.atomic():
            candidate.save()
            for checkpoint in found:
                _checkpoint_add(series=candidate, checkpoint=checkpoint)
    except IntegrityError:
        # Another request registered the same name between the check and the insert.
        raise ValidationError({"name": _NAME_TAKEN}) from None
    return candidate


def _checkpoint_add(*, series: CheckpointSeries, checkpoint: FoundCheckpoint) -> Checkpoint:
    adapter_name = f"{series.name} · step {checkpoint.step}"
    try:
        # The scan has checked and hashed the file: record it without reading it again.
        adapter = adapter_save(
            path=checkpoint.path,
            name=adapter_name[:120],
            trigger_token=series.trigger_token,
            default_scale=1.0,
            sha256=checkpoint.sha256,
        )
    except ValidationError as error:
        messages = " ".join(error.messages)
        raise ValidationError({"folder": f"{checkpoint.path.name}: {messages}"}) from None
    config, _ = config_copy(
        config=series.base_config,
        name=f"{series.name} · step {checkpoint.step}"[:120],
        adapters=[(adapter, series.scale)],
    )
    return Checkpoint.objects.create(
        series=series, step=checkpoint.step, adapter=adapter, config=config
    )


def series_configs(series: CheckpointSeries) -> list[GenerationConfig]:
    """The series' configurations in step order."""
    return [c.config for c in series_checkpoints(series=series)]


def series_grid_render(
    *, series: CheckpointSeries, prompts: Sequence[Prompt], seeds: Sequence[int]
) -> tuple[int, int]:
    """Create the grid's images (every checkpoint × prompt × seed) and enqueue rendering after
    commit. Returns (created, reused). Safe to run twice: existing images are reused.

    A seed given twice is one row of the grid: the limit of GRID_MAX_SEEDS counts distinct
    seeds, so the form and the API (which may send a list with repeats) agree.
    """
    errors: dict[str, str] = {}
    if not prompts:
        errors["prompts"] = "Choose at least one prompt."
    distinct = sorted(set(seeds))
    seed_error = _seeds_problem(distinct)
    if seed_error:
        errors["seeds"] = seed_error
    configs = series_configs(series)
    total = len(configs) * len(prompts) * len(distinct)
    if not errors and total > GRID_MAX_IMAGES:
        errors["seeds"] = f"That grid has {total} images; render at most {GRID_MAX_IMAGES} at once."
    if errors:
        raise ValidationError(errors)
    keys = [(c.pk, p.pk, s) for c in configs for p in prompts for s in distinct]
    with transaction.atomic():
        ensured = images_ensure(keys)
        ids = [image.pk for image in ensured.images.values()]
        transaction.on_commit(partial(images_dispatch, image_ids=ids))
    return ensured.created, ensured.reused


def _seeds_problem(seeds: Sequence[int]) -> str | None:
    """What is wrong with the grid's (distinct) seeds, or None."""
    if not seeds:
        return "Give at least one seed."
    if len(seeds) > GRID_MAX_SEEDS:
        return f"Give at most {GRID_MAX_SEEDS} seeds."
    for seed in seeds:
        try:
            for validate in seed_validators:
                validate(seed)
        except ValidationError as error:
            return error.messages[0]
    return None
