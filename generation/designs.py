"""Study designs: which configuration pairs each compares. Pure: plain data in, pairs out."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

from django.db import models

Params = Mapping[str, Hashable]


class Design(models.TextChoices):
    """The study designs (ratings.models.Study.Design is this class)."""

    ALL_PAIRS = "all_pairs", "All pairs"
    VS_BASELINE = "vs_baseline", "Each vs baseline"
    ONE_FACTOR = "one_factor", "One factor at a time"
    ADAPTIVE = "adaptive", "Adaptive"


def design_params(
    params: Mapping[str, Any], adapters: Iterable[tuple[str, float]]
) -> dict[str, Any]:
    """What a design compares configurations by: their rendering parameters and adapters
    (weights by hash, with scale). The one builder, for saved configs and builder drafts."""
    return {**params, "adapters": tuple((sha256, float(scale)) for sha256, scale in adapters)}


def differing_factors(a: Params, b: Params) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def design_pairs(
    *,
    design: str,
    config_ids: Sequence[int],
    params: Mapping[int, Params] | None = None,
    baseline_id: int | None = None,
) -> list[tuple[int, int]]:
    """Unordered configuration pairs (low id first) a design compares on each prompt × seed.

    all_pairs / adaptive: every pair (adaptive chooses among them at rating time).
    vs_baseline: the baseline against each other config.
    one_factor: pairs whose parameters differ in exactly one factor.
    """
    ids = sorted(set(config_ids))
    if design in ("all_pairs", "adaptive"):
        return list(combinations(ids, 2))
    if design == "vs_baseline":
        if baseline_id is None or baseline_id not in ids:
            raise ValueError("The 'each vs baseline' design needs a baseline among the configs.")
        return [tuple(sorted((baseline_id, other))) for other in ids if other != baseline_id]  # type: ignore[misc]
    if design == "one_factor":
        if params is None:
            raise ValueError("The 'one factor at a time' design needs each config's parameters.")
        return [
            (a, b)
            for a, b in combinations(ids, 2)
            if len(differing_factors(params[a], params[b])) == 1
        ]
    raise ValueError(f"Unknown study design {design!r}.")
