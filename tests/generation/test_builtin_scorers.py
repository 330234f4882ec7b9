"""The built-in `tiny-random` scorers (the demo's): real loading code, no model folder given."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image as PILImage

from generation.engine.scorers import (
    AestheticScorer,
    ClipSimilarityScorer,
    builtin_scorer_folder,
    load_scorer,
)


@pytest.mark.parametrize(
    ("metric", "kind"), [("clip", ClipSimilarityScorer), ("aesthetic-v2", AestheticScorer)]
)
def test_tiny_random_path_loads_a_builtin_scorer_that_scores_reproducibly(
    metric: str, kind: type
) -> None:
    scorer = load_scorer(metric, "tiny-random", device="cpu")
    assert isinstance(scorer, kind)
    images = [PILImage.new("RGB", (64, 64), colour) for colour in ((250, 250, 250), (200, 150, 60))]
    prompts = ["huggie hoops, white background"] * 2
    first = scorer.score(images, prompts)
    again = load_scorer(metric, "tiny-random", device="cpu").score(images, prompts)
    assert first == again and first[0] != first[1]


def test_builtin_scorer_folder_is_built_once_and_reused(tmp_path: Path) -> None:
    folder = builtin_scorer_folder("aesthetic", root=tmp_path)
    made = (folder / "done").stat().st_mtime_ns
    assert builtin_scorer_folder("aesthetic", root=tmp_path) == folder
    assert (folder / "done").stat().st_mtime_ns == made
    assert (folder / "clip" / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # nothing half-built left
