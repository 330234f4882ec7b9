"""The export's columns and how one value becomes a cell: shared by the plain and the fast path."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings

from generation.models import PARAM_FIELDS
from ratings.reports import ConfigInfo

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000
PARAM_COLUMNS = (*PARAM_FIELDS, "adapters")
#: What each image was rendered from, as its render recorded it (Image.params and
#: Image.versions, the same source as the pair browser's "Rendered from"); empty until rendered.
RECIPE_COLUMNS = ("rendered_prompt", "rendered_negative_prompt", "rendered_seed", "versions")
COLUMNS: tuple[str, ...] = (
    "study_id",
    "study",
    "comparison_id",
    "is_gold",
    "prompt_id",
    "prompt",
    "seed",
    "criterion",
    "rater",
    "config_a_id",
    "config_a_label",
    *(f"config_a_{p}" for p in PARAM_COLUMNS),
    "config_b_id",
    "config_b_label",
    *(f"config_b_{p}" for p in PARAM_COLUMNS),
    "image_a_id",
    "image_b_id",
    *(f"image_{side}_{r}" for side in "ab" for r in RECIPE_COLUMNS),
    "left",
    "left_image_id",
    "left_config_id",
    "outcome",
    "winner",
    "winner_config_id",
    "tags",
    "response_ms",
    "flagged_fast",
    "is_repeat",
    "created_at",
)


def rater_pseudonym(*, study_id: int, rater_id: int) -> str:
    """Stable within a study, different across studies, not reversible without SECRET_KEY."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"loupe-rater:{study_id}:{rater_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"r-{digest[:12]}"


def neutralise(value: Any) -> Any:
    """Defuse spreadsheet formulas: text cells starting with = + - @ (or tab/CR) get a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def adapters_text(adapters: list[dict[str, Any]]) -> str:
    return "; ".join(f"{a['adapter']}×{a['scale']:g}" for a in adapters)


def recipe_cells(
    side: str,
    prompt: str | None,
    negative_prompt: str | None,
    seed: int | None,
    versions: dict[str, str] | None,
) -> dict[str, Any]:
    """An image's recipe cells; an image not rendered yet has none ("" / null)."""
    return {
        f"image_{side}_rendered_prompt": prompt if prompt is not None else "",
        f"image_{side}_rendered_negative_prompt": (
            negative_prompt if negative_prompt is not None else ""
        ),
        f"image_{side}_rendered_seed": seed,
        f"image_{side}_versions": dict(sorted((versions or {}).items())),
    }


def versions_text(versions: dict[str, str]) -> str:
    """Library versions in one cell, as the pair browser lists them: "diffusers 0.30, torch 2.4".

    Sorted by name: PostgreSQL's jsonb keeps keys in its own order (shortest first), not the
    order the worker wrote them in.
    """
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


def tags_of(text: str | None) -> list[Any]:
    if text is None or text == "[]":
        return []
    return list(json.loads(text) or [])


def config_cells(info: ConfigInfo) -> list[Any]:
    """A configuration's cells in the CSV: id, label, parameters, adapters."""
    cells: list[Any] = [info.id, info.label]
    for key in PARAM_COLUMNS:
        cells.append(
            adapters_text(info.params["adapters"]) if key == "adapters" else info.params[key]
        )
    return cells


def flat_cells(record: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for column in COLUMNS:
        if column.startswith(("config_a_", "config_b_")):
            info: ConfigInfo = record[column[:8]]
            key = column[9:]
            if key == "id":
                out.append(info.id)
            elif key == "label":
                out.append(info.label)
            elif key == "adapters":
                out.append(adapters_text(info.params["adapters"]))
            else:
                out.append(info.params[key])
        elif column == "tags":
            out.append("; ".join(map(str, record["tags"])))
        elif column.endswith("_versions"):
            out.append(versions_text(record[column]))
        elif column.endswith("_rendered_seed"):
            out.append("" if record[column] is None else record[column])
        else:
            out.append(record[column])
    return [neutralise(v) for v in out]


class LineWriter:
    """A file-like object whose write() hands back what csv.writer wrote."""

    def write(self, value: str) -> str:
        return value
