"""What a re-sent render batch costs when its images were already taken: the price of a short
queue lease (LOUPE_QUEUE_LEASE_SECONDS), against rendering the batch for real.

    .venv/bin/python bench/requeue.py [--quick]

Figures (medians of several repeats, on a throwaway PostgreSQL database):
- duplicate_batch: seconds for a worker to handle a render message whose 8 images are done
  (claims nothing). Baseline: rendering those 8 images (tiny-random model, 256x256, 4 steps,
  CPU, pipeline warm) — a floor: a real SD 1.5 batch on a GPU takes far longer than this one.
  The ratio is baseline/value: how many duplicate messages cost as much as one real batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchdb import throwaway_django  # noqa: E402

DB = "loupe_bench_requeue"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    repeats = 3 if parser.parse_args().quick else 7
    with throwaway_django(
        DB,
        CELERY_TASK_ALWAYS_EAGER="1",
        MEDIA_ROOT=str(Path("/tmp") / f"loupe-bench-requeue-{os.getpid()}"),
    ):
        _measure(repeats)


def _measure(repeats: int) -> None:
    from generation.models import Image
    from generation.services.configs import config_create
    from generation.services.prompts import prompt_create
    from generation.services.rendering import images_render

    config, _ = config_create(name="b", sampler="euler_a", steps=4, width=256, height=256)
    prompt = prompt_create(text="huggie hoops, gold", category="hoops")
    images_render(image_ids=[Image.objects.create(config=config, prompt=prompt, seed=0).pk])
    real: list[float] = []
    duplicate: list[float] = []
    for repeat in range(repeats):
        ids = [
            Image.objects.create(config=config, prompt=prompt, seed=1 + repeat * 8 + i).pk
            for i in range(8)
        ]
        started = time.perf_counter()
        assert images_render(image_ids=ids) == 8
        real.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert images_render(image_ids=ids) == 0
        duplicate.append(time.perf_counter() - started)
    value, baseline = statistics.median(duplicate), statistics.median(real)
    print(f"duplicate_batch: {value:.4f} s  baseline {baseline:.3f} s  "
          f"ratio {baseline / value:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
