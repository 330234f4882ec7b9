"""LoRA adapter files: is a file a LoRA, and where may a server path point.

The messages are the ones users see (forms, admin and API), like generation.validation's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from django.core.exceptions import ValidationError
from safetensors import SafetensorError, safe_open

#: A LoRA's safetensors header lists a few hundred tensors (tens of kilobytes); a header
#: claimed above this is refused before a byte of it is read.
LORA_HEADER_MAX_BYTES = 8 * 1024 * 1024
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
_LORA_DOWN = re.compile(r"lora[._]down|lora_A")
_LORA_UP = {"lora_down": "lora_up", "lora.down": "lora.up", "lora_A": "lora_B"}
_NOT_SAFETENSORS = "Not a readable safetensors file"
_NOT_LORA = "Not a LoRA adapter file"


def _short(key: str) -> str:
    return key if len(key) <= 80 else key[:79] + "…"


def lora_file_problem(path: Path) -> str | None:
    """Why the file at `path` is not a LoRA adapter (a sentence), or None. Reads the header only.

    The header's claimed length is checked against LORA_HEADER_MAX_BYTES before
    safetensors.safe_open reads it; then every down (A) tensor needs its up (B) tensor, with
    shapes that fit a low-rank pair: down (rank, in…), up (out, rank…).
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return f"{_NOT_SAFETENSORS}: the file cannot be read"
    if len(head) < 8:
        return f"{_NOT_SAFETENSORS}: the file is too short to be safetensors"
    length = int.from_bytes(head, "little")
    if length > LORA_HEADER_MAX_BYTES:
        return (
            f"{_NOT_SAFETENSORS}: its header claims {length / 2**20:.0f} MiB, more than the "
            f"{LORA_HEADER_MAX_BYTES // 2**20} MiB any LoRA needs"
        )
    if length < 2 or 8 + length > size:
        return f"{_NOT_SAFETENSORS}: the header length does not fit the file"
    try:
        with safe_open(str(path), framework="numpy") as handle:
            shapes = {key: list(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        return f"{_NOT_SAFETENSORS}: the header cannot be read ({type(error).__name__})"
    if not shapes:
        return f"{_NOT_SAFETENSORS}: the header lists no tensors"
    downs = sorted(key for key in shapes if _LORA_DOWN.search(key))
    if not downs:
        return f"{_NOT_LORA}: it holds no LoRA tensors (pairs named …lora_down/…lora_up or …lora_A/…lora_B)"
    for key in downs:
        up_key = _LORA_DOWN.sub(lambda m: _LORA_UP[m.group(0)], key)
        down, up = shapes[key], shapes.get(up_key)
        if up is None:
            return f"{_NOT_LORA}: the LoRA tensor {_short(key)} has no matching up (B) tensor"
        if len(down) not in (2, 4) or len(up) != len(down) or down[0] != up[1]:
            return (
                f"{_NOT_LORA}: the tensors {_short(key)} {down} and {_short(up_key)} {up} do not form a "
                "low-rank pair"
            )
    return None


def server_path_resolve(raw: str, *, roots: Sequence[Path], field: str = "weights") -> Path:
    """A path a researcher named on the server, resolved, only inside `roots` (file or folder).

    Relative paths are read from the first root. Symlinks are resolved before the check, so
    a link cannot lead outside. Messages (on `field`) never echo the path nor say whether
    something exists outside the roots.
    """
    outside = ValidationError(
        {field: "Give a path inside the adapter folders (LOUPE_ADAPTER_ROOTS)."},
        code="outside",
    )
    if not roots:
        raise ValidationError(
            {field: "Registering by server path is off: LOUPE_ADAPTER_ROOTS names no folder."},
            code="off",
        )
    if not raw or "\x00" in raw:
        raise outside
    real_roots = [Path(root).resolve() for root in roots]
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        candidate = real_roots[0] / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError):
        raise outside from None
    if not any(resolved.is_relative_to(root) for root in real_roots):
        raise outside
    return resolved


def adapter_path_resolve(raw: str, *, roots: Sequence[Path]) -> Path:
    """The .safetensors file a researcher named by server path (a file, or a folder holding
    pytorch_lora_weights.safetensors), only inside `roots` (see server_path_resolve)."""
    resolved = server_path_resolve(raw, roots=roots)
    try:
        if resolved.is_dir():
            resolved = server_path_resolve(str(resolved / LORA_WEIGHT_NAME), roots=roots)
    except OSError:
        raise ValidationError(
            {"weights": "Give a path inside the adapter folders (LOUPE_ADAPTER_ROOTS)."},
            code="outside",
        ) from None
    if resolved.suffix != ".safetensors":
        raise ValidationError(
            {"weights": "Adapter weights must be a .safetensors file (or a folder holding one)."},
            code="suffix",
        )
    if not resolved.is_file():
        raise ValidationError(
            {"weights": "No .safetensors file at that path in the adapter folders."},
            code="missing",
        )
    return resolved
