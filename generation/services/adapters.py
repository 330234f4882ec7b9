"""Writes for LoRA adapters (register a server file, store an upload, edit) and which are active."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from generation.adapter_files import adapter_path_resolve, lora_file_problem
from generation.files import file_sha256
from generation.models import LoraAdapter, Prompt
from generation.validation import validate_upload_size

AdapterScales = Sequence[tuple[LoraAdapter, float]]

WEIGHTS_FIXED = "Weights are fixed once registered: register a new adapter."
TRIGGER_TOKEN_FIXED = (
    "Configurations use this adapter, so its trigger token is fixed (it is part of their "
    "settings and prompts): register a new adapter for another token."
)


def active_adapters(adapters: AdapterScales) -> list[tuple[LoraAdapter, float]]:
    """The adapters that change anything: one at scale 0 is the same as none."""
    return [(adapter, scale) for adapter, scale in adapters if not _is_zero(scale)]


def _is_zero(scale: Any) -> bool:
    # Validation names a scale that is not a number; until then it counts as active.
    try:
        return round(float(scale), 4) == 0
    except (TypeError, ValueError, OverflowError):
        return False


def trigger_tokens(*, prompt: Prompt, adapters: Iterable[tuple[LoraAdapter, float]]) -> list[str]:
    """The trigger tokens to put into this prompt for these adapters.

    Only an active adapter (scale ≠ 0) adds its token, and only to the prompts it is meant
    for: a prompt that names its own trigger token takes that one alone; otherwise an adapter
    trained for a category adds its token to prompts of that category (one without a
    category, to every prompt).
    """
    tokens = []
    for adapter, _ in active_adapters(list(adapters)):
        token = adapter.trigger_token
        if not token:
            continue
        if prompt.trigger_token:
            meant = prompt.trigger_token == token
        else:
            meant = not adapter.category or adapter.category == prompt.category
        if meant and token not in tokens:
            tokens.append(token)
    return tokens


def adapter_register(
    *, name: str, weights: str, trigger_token: str = "", default_scale: float = 1.0
) -> LoraAdapter:
    """Register a LoRA adapter from a .safetensors file (or a folder holding one) on the server.

    Only paths inside LOUPE_ADAPTER_ROOTS are read; the file must be a LoRA (see
    generation.adapter_files.lora_file_problem).
    """
    path = adapter_path_resolve(weights, roots=[Path(r) for r in settings.LOUPE_ADAPTER_ROOTS])
    return adapter_save(
        path=path, name=name, trigger_token=trigger_token, default_scale=default_scale
    )


def adapter_save(
    *,
    path: Path,
    name: str,
    trigger_token: str,
    default_scale: float,
    field: str = "weights",
    sha256: str | None = None,
) -> LoraAdapter:
    """The adapter row for a server file under the adapter folders. With `sha256`, the caller
    has already checked that the file is a LoRA and hashed it (a checkpoint series' scan):
    a checkpoint of a few hundred MB is read once, not twice."""
    if sha256 is None:
        problem = lora_file_problem(path)
        if problem:
            raise ValidationError({field: f"{problem}."})
        sha256 = file_sha256(path)
    adapter = LoraAdapter(
        name=name,
        weights=str(path),
        sha256=sha256,
        trigger_token=trigger_token,
        default_scale=default_scale,
    )
    return _adapter_save(adapter)


def _adapter_save(adapter: LoraAdapter) -> LoraAdapter:
    """Check and save an adapter; a name another request took meanwhile is a field error."""
    adapter.full_clean()
    try:
        with transaction.atomic():
            adapter.save()
    except IntegrityError:
        # Another request took the same name between full_clean() and the write.
        raise ValidationError(
            {"name": "An adapter with this name already exists; choose another name."}
        ) from None
    return adapter


UPLOAD_OR_PATH = "Upload a .safetensors file or give a path, not both."


def adapter_add(
    *,
    name: str,
    upload: UploadedFile | None = None,
    weights: str = "",
    trigger_token: str = "",
    default_scale: float = 1.0,
) -> LoraAdapter:
    """Register an adapter from an uploaded file or a path on the server: exactly one of them
    (a ValidationError on `weights` otherwise). The page and the API both add adapters here."""
    if (upload is not None) == bool(weights):
        raise ValidationError({"weights": UPLOAD_OR_PATH}, code="upload_or_path")
    if upload is not None:
        return adapter_upload(
            name=name, upload=upload, trigger_token=trigger_token, default_scale=default_scale
        )
    return adapter_register(
        name=name, weights=weights, trigger_token=trigger_token, default_scale=default_scale
    )


def adapter_upload(
    *,
    name: str,
    upload: UploadedFile,
    trigger_token: str = "",
    default_scale: float = 1.0,
) -> LoraAdapter:
    """Store an uploaded .safetensors under MEDIA_ROOT/adapters/ and register it.

    Nothing is kept when the file or the fields are rejected.
    """
    if not (upload.name or "").lower().endswith(".safetensors"):
        raise ValidationError(
            {"upload": "Adapter weights must be a .safetensors file (or a folder holding one)."}
        )
    try:
        validate_upload_size(upload)
    except ValidationError as error:
        raise ValidationError({"upload": error.messages}) from None
    folder = Path(settings.MEDIA_ROOT) / "adapters"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{secrets.token_hex(8)}.safetensors"
    with target.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    try:
        return adapter_save(
            path=target,
            name=name,
            trigger_token=trigger_token,
            default_scale=default_scale,
            field="upload",
        )
    except BaseException:
        # Whatever refused it (validation, a lost race on the name, an interrupted request),
        # the file must not outlive the row it was stored for.
        target.unlink(missing_ok=True)
        raise


def adapter_fixed_fields(*, adapter: LoraAdapter) -> list[str]:
    """The fields of this adapter that may no longer change.

    The file and its hash are what configurations (and their images) are made with; once a
    configuration uses the adapter, so is its trigger token: it is part of the configuration's
    fingerprint and goes into its prompts at render time.
    """
    fixed = ["weights", "sha256"]
    if adapter.pk is not None and adapter.config_links.exists():
        fixed.append("trigger_token")
    return fixed


def adapter_update(
    *, adapter: LoraAdapter, upload: UploadedFile | None = None, **changes: Any
) -> LoraAdapter:
    """Edit a registered adapter (name, trigger token, default scale, category, archived).
    Safe to run twice.

    Raises ValidationError naming `weights` or `upload` for a new file (register a new
    adapter instead) and `trigger_token` for a new token once configurations use it.
    """
    fixed = adapter_fixed_fields(adapter=adapter)
    errors: dict[str, str] = {}
    if upload is not None:
        errors["upload"] = WEIGHTS_FIXED
    for field, value in changes.items():
        if field in fixed and value != getattr(adapter, field):
            errors[field] = TRIGGER_TOKEN_FIXED if field == "trigger_token" else WEIGHTS_FIXED
    if errors:
        raise ValidationError(errors)
    for field, value in changes.items():
        setattr(adapter, field, value)
    return _adapter_save(adapter)
