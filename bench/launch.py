"""What launching a study costs: making its images and comparisons.

    .venv/bin/python bench/launch.py [--quick]

Figures (medians of several repeats, on a throwaway PostgreSQL database, a 5-configuration
all-pairs study over 10 prompts × 4 seeds: 200 images, 400 comparisons, every one new):
- launch_writes: seconds for images_ensure + comparisons_ensure (two reads and bulk inserts).
  Baseline: the same images and comparisons with the ORM's documented get_or_create, one per
  image and one per comparison, in one transaction (what the launch did before). The ratio is
  baseline/value.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import throwaway_django  # noqa: E402

DB = "loupe_bench_launch"
CONFIGS, PROMPTS, SEEDS = 5, 10, 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    repeats = 3 if parser.parse_args().quick else 7
    with throwaway_django(DB):
        _measure(repeats)


def _measure(repeats: int) -> None:
    from django.db import transaction

    from generation.designs import design_pairs
    from generation.models import Image
    from generation.services.configs import config_create
    from generation.services.images import images_ensure
    from generation.services.prompts import prompt_create
    from ratings.models import Comparison
    from ratings.services.studies import comparisons_ensure, study_create

    configs = [
        config_create(name=f"c{i}", sampler="euler_a", steps=20 + 5 * i)[0] for i in range(CONFIGS)
    ]
    prompts = [
        prompt_create(text=f"huggie hoops {i}, gold", category="hoops") for i in range(PROMPTS)
    ]
    pairs = design_pairs(design="all_pairs", config_ids=[c.pk for c in configs])
    keys = [(c.pk, p.pk) for p in prompts for c in configs]  # (config, prompt)

    def study(base_seed: int) -> object:
        return study_create(
            name=f"launch {base_seed}",
            prompts=prompts,
            configs=configs,
            seeds_per_prompt=SEEDS,
            base_seed=base_seed,
        )

    def orm_one_by_one(target: object, seeds: list[int]) -> int:
        made = 0
        with transaction.atomic():
            images = {}
            for config_id, prompt_id in keys:
                for seed in seeds:
                    image, _ = Image.objects.get_or_create(
                        config_id=config_id, prompt_id=prompt_id, seed=seed
                    )
                    images[(config_id, prompt_id, seed)] = image
            for p in prompts:
                for seed in seeds:
                    for a, b in pairs:
                        low, high = sorted(
                            (images[(a, p.pk, seed)], images[(b, p.pk, seed)]),
                            key=lambda i: i.pk,
                        )
                        _, created = Comparison.objects.get_or_create(
                            study=target, image_a=low, image_b=high,
                            defaults={"prompt_id": p.pk, "seed": seed},
                        )  # fmt: skip
                        made += created
        return made

    def bulk(target: object, seeds: list[int]) -> int:
        with transaction.atomic():
            images = images_ensure((c, p, s) for c, p in keys for s in seeds).images
            return comparisons_ensure(
                study=target,  # type: ignore[arg-type]
                pairs=(
                    (images[(a, p.pk, s)], images[(b, p.pk, s)])
                    for p in prompts
                    for s in seeds
                    for a, b in pairs
                ),
            )

    expected = PROMPTS * SEEDS * len(pairs)
    timings: dict[str, list[float]] = {"orm": [], "bulk": []}
    for repeat in range(repeats):
        for way, run in (("orm", orm_one_by_one), ("bulk", bulk)):
            base = 1000 * (2 * repeat + (way == "bulk"))
            seeds = list(range(base, base + SEEDS))
            target = study(base)
            started = time.perf_counter()
            assert run(target, seeds) == expected
            timings[way].append(time.perf_counter() - started)
    value, baseline = statistics.median(timings["bulk"]), statistics.median(timings["orm"])
    print(f"launch_writes ({CONFIGS * PROMPTS * SEEDS} images, {expected} comparisons): "
          f"{value:.3f} s  baseline {baseline:.3f} s  ratio {baseline / value:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
