"""Automatic image metrics, loaded from local folders only (no hub): CLIP similarity and a
LAION-style aesthetic predictor.

A CLIP folder is what `CLIPModel.save_pretrained` plus the processor's `save_pretrained` write
(`config.json`, weights, `preprocessor_config.json`, tokenizer files), e.g. a local copy of
openai/clip-vit-large-patch14.

An aesthetic folder holds the head and the CLIP model it was trained on:

    laion-aesthetic/
        sac+logos+ava1-l14-linearMSE.pth    the head (.pth, .pt or .safetensors)
        clip/                               the CLIP folder (or the CLIP files at the top level)

The head is either one linear layer (`weight`, `bias`: LAION aesthetic v1) or a stack of linear
layers keyed `layers.<i>.weight` / `layers.<i>.bias` applied in order of i (the improved
predictor, v2, has dropout between its linears and no activations). It reads the L2-normalised
CLIP image embedding, as LAION trained it.

The path `tiny-random` names a built-in seeded tiny scorer of either kind (builtin_scorer_folder),
for the demo: like the `tiny-random` render model, it needs no download and means nothing.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import transformers
from PIL.Image import Image
from transformers import AutoImageProcessor, CLIPModel, CLIPTokenizer

from generation.constants import TINY_RANDOM, metric_kind

log = logging.getLogger(__name__)

HEAD_SUFFIXES = (".safetensors", ".pth", ".pt")
# Weight files of a CLIP model saved at the top level of an aesthetic folder: not the head.
_CLIP_WEIGHT_NAMES = {"model.safetensors", "pytorch_model.bin", "pytorch_model.pt"}
_LAYER_KEY = re.compile(r"^(?:.*\.)?(\d+)\.(weight|bias)$")


class ScorerError(ValueError):
    """A scorer cannot be built from the given path (missing, unreadable or mismatched files)."""


@runtime_checkable
class Scorer(Protocol):
    """Scores images, one float each; higher means the metric prefers the image."""

    name: str

    def score(self, images: list[Image], prompts: list[str]) -> list[float]: ...


def _device(device: str | torch.device | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _features(output: object) -> torch.Tensor:
    # transformers 5 returns a BaseModelOutputWithPooling whose pooler_output is the projection;
    # older releases returned the projected tensor itself.
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if not isinstance(pooled, torch.Tensor):
        raise TypeError(f"Unexpected CLIP feature output: {type(output).__name__}")
    return pooled


class ClipBackbone:
    """A CLIP model with its image processor and tokenizer, from one local folder."""

    def __init__(
        self,
        path: str | Path,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise ScorerError(
                f"{folder} is not a CLIP model folder (no config.json): save one with "
                "CLIPModel.save_pretrained and the processor's save_pretrained."
            )
        self.path = str(folder)
        self.device = _device(device)
        self.dtype = dtype
        # Workers log to files; per-load progress bars there are noise.
        transformers.utils.logging.disable_progress_bar()
        try:
            self.model = CLIPModel.from_pretrained(folder, local_files_only=True, dtype=dtype)
            # The PIL backend on every machine: torchvision's resize differs slightly, and scores
            # from workers with and without it must be comparable.
            self.processor = AutoImageProcessor.from_pretrained(
                folder, local_files_only=True, backend="pil"
            )
            self.tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ScorerError(f"Cannot load the CLIP model in {folder}: {exc}") from exc
        # transformers' decorator on PreTrainedModel.to confuses mypy; the call is the documented one.
        self.model.to(self.device)  # type: ignore[arg-type]
        self.model.eval()
        # A tokenizer saved without model_max_length reports a huge one: cut at the positions
        # the text tower has (77 for every CLIP).
        self.max_text_length = min(
            int(self.tokenizer.model_max_length),
            int(self.model.text_model.config.max_position_embeddings),
        )

    @torch.inference_mode()
    def image_embeddings(self, images: list[Image]) -> torch.Tensor:
        """L2-normalised image embeddings, float32, on the CPU."""
        pixels = self.processor(images=[i.convert("RGB") for i in images], return_tensors="pt")
        values = pixels["pixel_values"].to(self.device, self.dtype)
        features = _features(self.model.get_image_features(pixel_values=values)).float()
        return torch.nn.functional.normalize(features, dim=-1).cpu()

    @torch.inference_mode()
    def text_embeddings(self, prompts: list[str]) -> torch.Tensor:
        """L2-normalised text embeddings (prompts cut at the tokenizer's 77 tokens), float32, CPU."""
        tokens = self.tokenizer(
            prompts,
            padding=True,
            truncation=True,
            max_length=self.max_text_length,
            return_tensors="pt",
        )
        features = _features(
            self.model.get_text_features(
                input_ids=tokens["input_ids"].to(self.device),
                attention_mask=tokens["attention_mask"].to(self.device),
            )
        ).float()
        return torch.nn.functional.normalize(features, dim=-1).cpu()


def _check_lengths(images: list[Image], prompts: list[str]) -> None:
    if len(images) != len(prompts):
        raise ValueError(
            f"Got {len(images)} images but {len(prompts)} prompts: pass one prompt per image."
        )


class _ClipScorer:
    """A scorer over a CLIP backbone: its own, or one shared with other scorers (`backbone`)."""

    default_name = ""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        backbone: ClipBackbone | None = None,
        clip: str | Path | None = None,
    ) -> None:
        """`clip`: the CLIP folder when it is not `path` itself."""
        self.name = name or self.default_name
        self.path = str(Path(path).expanduser())
        self.backbone = backbone or ClipBackbone(clip or path, device=device, dtype=dtype)

    def score(self, images: list[Image], prompts: list[str]) -> list[float]:
        raise NotImplementedError


class ClipSimilarityScorer(_ClipScorer):
    """CLIP score: 100 × cosine similarity of the image and prompt embeddings (not clipped at 0)."""

    default_name = "clip"

    def score(self, images: list[Image], prompts: list[str]) -> list[float]:
        _check_lengths(images, prompts)
        if not images:
            return []
        image = self.backbone.image_embeddings(images)
        text = self.backbone.text_embeddings(prompts)
        return [float(x) for x in (100.0 * (image * text).sum(dim=-1))]


def load_head_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a head file (.safetensors, or a torch state dict in .pth/.pt)."""
    file = Path(path)
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(file)))
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ScorerError(f"Cannot read the aesthetic head {file}: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ScorerError(f"{file} does not hold a state dict of tensors.")
    return dict(state)


def head_from_state(state: dict[str, torch.Tensor]) -> torch.nn.Sequential:
    """Linear layers in key order: `weight`/`bias` alone, or `[prefix.]<i>.weight`/`.bias`."""
    if set(state) == {"weight", "bias"}:
        groups = {0: {"weight": state["weight"], "bias": state["bias"]}}
    else:
        groups = {}
        for key, tensor in state.items():
            match = _LAYER_KEY.match(key)
            if match is None:
                raise ScorerError(
                    f"Unexpected key {key!r} in the aesthetic head: expected linear layers."
                )
            groups.setdefault(int(match.group(1)), {})[match.group(2)] = tensor
    layers = []
    previous: int | None = None
    for index in sorted(groups):
        params = groups[index]
        weight = params.get("weight")
        if weight is None or weight.ndim != 2:
            raise ScorerError(f"Layer {index} of the aesthetic head has no 2-D weight.")
        out_features, in_features = weight.shape
        if previous is not None and in_features != previous:
            raise ScorerError(
                f"Layer {index} of the aesthetic head takes {in_features} inputs, not {previous}."
            )
        linear = torch.nn.Linear(in_features, out_features, bias="bias" in params)
        with torch.no_grad():
            linear.weight.copy_(weight.float())
            if "bias" in params:
                linear.bias.copy_(params["bias"].float())
        layers.append(linear)
        previous = out_features
    if not layers or previous != 1:
        raise ScorerError("The aesthetic head must end in one output (a score).")
    return torch.nn.Sequential(*layers).eval()


def aesthetic_files(path: str | Path) -> tuple[Path, Path]:
    """(CLIP folder, head file) for an aesthetic folder, or for a head file with CLIP beside it."""
    given = Path(path).expanduser()
    if given.is_file():
        head, folder = given, given.parent
    elif given.is_dir():
        folder = given
        heads = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix in HEAD_SUFFIXES and p.name not in _CLIP_WEIGHT_NAMES
        )
        if len(heads) != 1:
            found = ", ".join(p.name for p in heads) or "none"
            raise ScorerError(
                f"{folder} must hold exactly one aesthetic head file ({', '.join(HEAD_SUFFIXES)}); found {found}."
            )
        head = heads[0]
    else:
        raise ScorerError(f"No aesthetic predictor at {given}: the path does not exist.")
    clip = folder / "clip" if (folder / "clip" / "config.json").is_file() else folder
    return clip, head


class AestheticScorer(_ClipScorer):
    """LAION-style aesthetic score: a linear/MLP head over normalised CLIP image embeddings."""

    default_name = "aesthetic"

    def __init__(self, path: str | Path, **options: Any) -> None:
        clip, head_file = aesthetic_files(path)
        super().__init__(path, clip=clip, **options)
        self.head = head_from_state(load_head_state(head_file))
        width = self.backbone.model.config.projection_dim
        if self.head[0].in_features != width:
            raise ScorerError(
                f"The aesthetic head {head_file.name} reads {self.head[0].in_features}-wide embeddings "
                f"but the CLIP model in {clip} gives {width}: use the CLIP it was trained on."
            )

    def score(self, images: list[Image], prompts: list[str]) -> list[float]:
        """Prompts are accepted for the common interface and ignored."""
        _check_lengths(images, prompts)
        if not images:
            return []
        with torch.inference_mode():
            values = self.head(self.backbone.image_embeddings(images)).squeeze(-1)
        return [float(x) for x in values]


SCORER_KINDS: dict[str, type[_ClipScorer]] = {
    "clip": ClipSimilarityScorer,
    "aesthetic": AestheticScorer,
}


def scorer_kind(metric: str) -> str:
    """The scorer kind a metric name asks for: `clip`, `aesthetic`, or either with a suffix
    (`clip-b32`, `aesthetic_v1`)."""
    kind = metric_kind(metric)
    if kind not in SCORER_KINDS:
        raise ScorerError(
            f"Unknown metric {metric!r}: names start with one of {', '.join(SCORER_KINDS)} (e.g. clip, aesthetic-v2)."
        )
    return kind


def builtin_scorer_folder(kind: str, *, root: Path | None = None) -> Path:
    """The folder of the built-in `tiny-random` scorer of this kind: the seeded tiny CLIP (and,
    for `aesthetic`, a seeded head) the tests use, saved once under the temp folder and then
    loaded like any local model. For trying best-of-N studies without a model (`make run`):
    its scores are deterministic but random, so its picks mean nothing about quality."""
    from .testing_scorers import save_tiny_aesthetic, save_tiny_clip

    base = root or Path(tempfile.gettempdir()) / "loupe-builtin-scorers"
    target = base / f"{kind}-{TINY_RANDOM}"
    if (target / "done").is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place: a concurrent worker sees all or nothing.
    building = Path(tempfile.mkdtemp(dir=base, prefix=f".{kind}-"))
    if kind == "clip":
        save_tiny_clip(building, seed=0)
    else:
        save_tiny_aesthetic(building, seed=0)
    (building / "done").write_text("ok\n")
    try:
        building.rename(target)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(building, ignore_errors=True)
    return target


def load_scorer(
    metric: str,
    path: str | Path,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    backbones: dict[str, ClipBackbone] | None = None,
) -> Scorer:
    """A scorer for `metric` from a local path; the kind comes from the metric's name.

    Scorers that read the same CLIP folder share one model when given the same `backbones` dict
    (CLIP ViT-L/14 is 1.7 GB: a CLIP score and an aesthetic head over it load it once).
    """
    kind = scorer_kind(metric)
    if str(path) == TINY_RANDOM:
        path = builtin_scorer_folder(kind)
    clip = Path(path).expanduser() if kind == "clip" else aesthetic_files(path)[0]
    backbone = None
    if backbones is not None:
        backbone = shared_backbone(clip, backbones=backbones, device=device, dtype=dtype)
    return SCORER_KINDS[kind](path, name=metric, device=device, dtype=dtype, backbone=backbone)


def shared_backbone(
    path: str | Path,
    *,
    backbones: dict[str, ClipBackbone],
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> ClipBackbone:
    """The CLIP model of this folder (`tiny-random`: the built-in one), loaded once per folder
    into `backbones` and shared by every scorer and checklist labeller that reads it."""
    folder = builtin_scorer_folder("clip") if str(path) == TINY_RANDOM else Path(path).expanduser()
    key = str(folder.resolve())
    backbone = backbones.get(key)
    if backbone is None:
        backbone = backbones[key] = ClipBackbone(folder, device=device, dtype=dtype)
    return backbone
