"""Render engine benchmark: the engine against a naive per-image loop, in one process.

    .venv/bin/python bench/render.py [--quick] [--model tiny-random|sd15-random] [--device cpu|cuda]

Figures (each the median of several repeats, engine and baseline interleaved):
- study_throughput: images/s on an 8-config x 4-prompt x 2-seed study (64 images). Baseline: one
  pipeline call per image, scheduler rebuilt each time, no embedding cache, prompt passed as text
  (compel only where the config weights key terms, re-encoded for every image).
- renders_per_image_shown: a design fact, not a speed-up: images rendered per image shown in the
  study's all-pairs comparisons (each image is rendered once and shown in every pair it is in).
- scheduler_swap: changing sampler on a warm pipeline, as the engine does it. Baseline: what the
  diffusers documentation says to do, `SchedulerClass.from_config(pipe.scheduler.config)` on
  the same pipeline; both are the same call, so the ratio is about 1 (the engine gains nothing
  here: the figure shows a swap costs milliseconds, so a study never reloads a pipeline).
- lora_switch: set_adapters between two loaded adapters. Baseline: unload, then load the other file.
- text_encoder_calls: text-encoder forward passes per image over the study.
- best_of_n: candidates/s rendering N candidates of one prompt with one configuration (seeds
  0..N-1; N 8 with --quick, else 64 on tiny-random and 32 on sd15-random), as a best-of-N study
  does: the engine encodes the prompt once and batches the seeds (max_batch 16). Baseline: one
  request at a time, the documented diffusers call per seed,
  `pipe(prompt=..., negative_prompt=..., generator=torch.Generator().manual_seed(seed))`.
- with --model sd15-random --device cuda: images/s at 512x512, 20 steps, CFG 7, batch 1/8/16.
For lower-is-better figures the ratio is baseline/value, so a ratio above 1 always means better.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from compel import Compel  # noqa: E402
from diffusers import StableDiffusionPipeline  # noqa: E402

from generation.constants import SD15_RANDOM, TINY_RANDOM  # noqa: E402
from generation.engine import Engine, RenderSpec, make_scheduler, weighted_prompt  # noqa: E402
from generation.engine.loading import load_base_pipeline  # noqa: E402
from generation.engine.testing import adapter_for, make_test_lora  # noqa: E402

PROMPTS: list[tuple[str, tuple[str, ...]]] = [
    (
        "channel-set diamond band, white background, studio lighting",
        ("channel-set", "diamond band"),
    ),
    ("threader earrings in gold, white background, minimal", ("threader earrings",)),
    ("huggie hoops, sterling silver, clean product shot", ("huggie hoops",)),
    ("pave diamond tennis bracelet, soft shadow, modern", ("tennis bracelet", "pave")),
]
SEEDS = (11, 12)
NEGATIVE = "low quality, clutter, vintage, overly ornate"


@dataclass(frozen=True)
class Config:
    sampler: str
    cfg: float
    steps: int
    compel_level: str


def study_configs(steps: int) -> list[Config]:
    """Eight configs around the report's winner (Euler a, CFG 9, 20 steps, medium compel)."""
    return [
        Config("euler_a", 9.0, steps, "medium"),
        Config("euler_a", 9.0, steps, "none"),
        Config("euler_a", 9.0, steps, "high"),
        Config("euler_a", 7.0, steps, "medium"),
        Config("ddim", 9.0, steps, "medium"),
        Config("dpmpp_2m", 9.0, steps, "medium"),
        Config("dpmpp_2m_karras", 7.0, steps, "low"),
        Config("euler_a", 9.0, steps * 3 // 2, "medium"),
    ]


def study_specs(model: str, steps: int, size: int) -> list[RenderSpec]:
    return [
        RenderSpec(
            base_model=model,
            vae="",
            sampler=c.sampler,
            steps=c.steps,
            cfg=c.cfg,
            width=size,
            height=size,
            prompt=prompt,
            key_terms=terms,
            compel_level=c.compel_level,
            negative_prompt=NEGATIVE,
            seed=seed,
        )  # fmt: skip
        for c in study_configs(steps)
        for prompt, terms in PROMPTS
        for seed in SEEDS
    ]


class NaiveRenderer:
    """What a first script does: one call per image, nothing reused between images."""

    def __init__(self, pipe: StableDiffusionPipeline) -> None:
        self.pipe = pipe
        self.base_config = dict(pipe.scheduler.config)
        self.text_encoder_calls = 0
        pipe.text_encoder.register_forward_pre_hook(self._count)

    def _count(self, module: torch.nn.Module, args: tuple[object, ...]) -> None:
        self.text_encoder_calls += 1

    @torch.inference_mode()
    def render(self, spec: RenderSpec) -> None:
        pipe = self.pipe
        pipe.scheduler = make_scheduler(spec.sampler, self.base_config)
        generator = torch.Generator("cpu").manual_seed(spec.seed)
        common = dict(
            num_inference_steps=spec.steps, guidance_scale=spec.cfg, width=spec.width,
            height=spec.height, generator=generator, output_type="pil",
        )  # fmt: skip
        if spec.compel_level == "none":
            pipe(prompt=spec.prompt, negative_prompt=spec.negative_prompt, **common)
            return
        compel = Compel(
            tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, truncate_long_prompts=False
        )
        positive = compel.build_conditioning_tensor(
            weighted_prompt(spec.prompt, spec.key_terms, spec.compel_level)
        )
        negative = compel.build_conditioning_tensor(spec.negative_prompt)
        positive, negative = compel.pad_conditioning_tensors_to_same_length([positive, negative])
        pipe(prompt_embeds=positive, negative_prompt_embeds=negative, **common)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def interleaved(
    candidate: Callable[[], object], baseline: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median seconds of each, run in ABBA order so drift hits both equally."""
    got: dict[str, list[float]] = {"c": [], "b": []}
    for r in range(repeats):
        order = (
            [("c", candidate), ("b", baseline)]
            if r % 2 == 0
            else [("b", baseline), ("c", candidate)]
        )
        for name, fn in order:
            got[name].append(timed(fn))
    return statistics.median(got["c"]), statistics.median(got["b"])


def line(
    name: str, value: float, unit: str, baseline: float, ratio: float, digits: int = 2
) -> None:
    print(
        f"{name}: {value:.{digits}f} {unit}  baseline {baseline:.{digits}f}  ratio {ratio:.2f}x",
        flush=True,
    )


def bench_study(
    engine: Engine, naive: NaiveRenderer, specs: list[RenderSpec], repeats: int, subset: bool
) -> None:
    engine.render(specs[:2])  # warm: load, first-call allocations
    naive.render(specs[0])
    # The naive loop shares nothing between images, so its rate on one seed of every config x prompt
    # cell is its rate on the whole study; --quick uses that to stay under a minute.
    baseline_specs = [s for s in specs if s.seed == SEEDS[0]] if subset else specs

    def run_engine() -> None:
        engine.clear_prompt_cache()  # each repeat is a fresh study: embeddings start cold
        results = engine.render(specs)
        assert all(r.error is None for r in results), [r.error for r in results if r.error]

    def run_naive() -> None:
        for spec in baseline_specs:
            naive.render(spec)

    calls_before = (engine.stats.text_encoder_calls, naive.text_encoder_calls)
    engine_s, naive_s = interleaved(run_engine, run_naive, repeats)
    engine_rate, naive_rate = len(specs) / engine_s, len(baseline_specs) / naive_s
    line("study_throughput", engine_rate, "images/s", naive_rate, engine_rate / naive_rate)
    if subset:
        print(
            f"  (baseline timed on {len(baseline_specs)} of the {len(specs)} images: one seed per cell)"
        )

    engine_calls = (engine.stats.text_encoder_calls - calls_before[0]) / (repeats * len(specs))
    naive_calls = (naive.text_encoder_calls - calls_before[1]) / (repeats * len(baseline_specs))
    line(
        "text_encoder_calls",
        engine_calls,
        "calls/image",
        naive_calls,
        naive_calls / engine_calls,
        3,
    )


def bench_reuse(specs: list[RenderSpec]) -> None:
    """A design fact (no baseline): each image is rendered once and shown in every pair it is in."""
    configs = sorted({(s.sampler, s.cfg, s.steps, s.compel_level) for s in specs})
    cells = {(s.prompt, s.seed) for s in specs}
    comparisons = len(list(itertools.combinations(configs, 2))) * len(cells)
    shown = 2 * comparisons
    rendered = len(specs)
    print(
        f"renders_per_image_shown: {rendered / shown:.3f} renders/image-shown (design fact: "
        f"{len(configs)} configs all pairs = {comparisons // len(cells)} pairs x {len(cells)} "
        f"prompt-seed cells = {comparisons} comparisons showing {shown} images from {rendered} "
        "renders)"
    )


def bench_swaps(
    engine: Engine, naive_pipe: StableDiffusionPipeline, model: str, repeats: int, folder: Path
) -> None:
    pipe = engine.pipeline(model)
    config = dict(pipe.scheduler.config)
    samplers = ["euler_a", "ddim", "dpmpp_2m", "unipc"]
    swap_s: list[float] = []
    for i in range(max(20, repeats * 10)):
        swap_s.append(
            timed(lambda i=i: setattr(pipe, "scheduler", make_scheduler(samplers[i % 4], config)))
        )
    # The documented way, on the baseline's own pipeline: the scheduler class's from_config.
    classes = [type(make_scheduler(name, config)) for name in samplers]
    base_config = dict(naive_pipe.scheduler.config)
    documented_s: list[float] = []
    for i in range(max(20, repeats * 10)):
        documented_s.append(
            timed(
                lambda i=i: setattr(
                    naive_pipe, "scheduler", classes[i % 4].from_config(base_config)
                )
            )
        )
    swap_ms, documented_ms = (
        statistics.median(swap_s) * 1000,
        statistics.median(documented_s) * 1000,
    )
    line("scheduler_swap", swap_ms, "ms", documented_ms, documented_ms / swap_ms, 3)
    print("  (baseline: SchedulerClass.from_config on a warm pipeline, the documented swap)")

    lora_a = adapter_for(
        make_test_lora(pipe, folder / "a.safetensors", rank=8, seed=1, text_encoder=True)
    )
    lora_b = adapter_for(
        make_test_lora(pipe, folder / "b.safetensors", rank=8, seed=2, text_encoder=True)
    )
    spec = RenderSpec(model, "", "euler_a", 2, 7.0, 64, 64, "ring", (), "none", "", 0)
    spec_a, spec_b = replace(spec, adapters=(lora_a,)), replace(spec, adapters=(lora_b,))
    engine.activate_adapters(spec_a)
    engine.activate_adapters(spec_b)
    switch_s = [
        timed(lambda s=s: engine.activate_adapters(s))
        for s in [spec_a, spec_b] * max(10, repeats * 3)
    ]

    def reload_other(target: RenderSpec) -> None:
        naive_pipe.unload_lora_weights()
        adapter = target.adapters[0]
        naive_pipe.load_lora_weights(str(Path(adapter.path).parent), weight_name=Path(adapter.path).name,
                               adapter_name="reloaded")  # fmt: skip

    reload_lora_s = [timed(lambda s=s: reload_other(s)) for s in [spec_a, spec_b] * repeats]
    naive_pipe.unload_lora_weights()
    engine.activate_adapters(spec)
    switch_ms, reload_lora_ms = (
        statistics.median(switch_s) * 1000,
        statistics.median(reload_lora_s) * 1000,
    )
    line("lora_switch", switch_ms, "ms", reload_lora_ms, reload_lora_ms / switch_ms, 3)


def bench_best_of_n(
    engine: Engine,
    naive_pipe: StableDiffusionPipeline,
    model: str,
    *,
    n: int,
    steps: int,
    size: int,
    repeats: int,
) -> None:
    prompt, terms = PROMPTS[1]
    spec = RenderSpec(
        model, "", "euler_a", steps, 7.0, size, size, prompt, terms, "none", NEGATIVE, 0
    )
    specs = [replace(spec, seed=seed) for seed in range(n)]
    engine.render(specs[:2])  # warm this shape
    generator = torch.Generator("cpu")

    def run_engine() -> None:
        engine.clear_prompt_cache()  # a new study: the prompt is encoded afresh
        results = engine.render(specs)
        assert all(r.error is None for r in results), [r.error for r in results if r.error]

    @torch.inference_mode()
    def run_one_at_a_time() -> None:
        naive_pipe.scheduler = make_scheduler("euler_a", dict(naive_pipe.scheduler.config))
        for seed in range(n):
            naive_pipe(
                prompt=prompt, negative_prompt=NEGATIVE, num_inference_steps=steps,
                guidance_scale=7.0, width=size, height=size,
                generator=generator.manual_seed(seed), output_type="pil",
            )  # fmt: skip

    run_one_at_a_time()  # warm
    engine_s, naive_s = interleaved(run_engine, run_one_at_a_time, repeats)
    line("best_of_n", n / engine_s, "candidates/s", n / naive_s, naive_s / engine_s)
    print(
        f"  (N={n} candidates of one prompt at {size}px, {steps} steps, max_batch {engine.max_batch})"
    )


def bench_batches(engine: Engine, model: str, repeats: int) -> None:
    spec = RenderSpec(
        model, "", "euler_a", 20, 7.0, 512, 512, PROMPTS[0][0], PROMPTS[0][1], "medium", NEGATIVE, 0
    )
    rates: dict[int, float] = {}
    for batch in (1, 8, 16):
        engine.max_batch = batch
        specs = [replace(spec, seed=s) for s in range(16)]
        engine.render(specs[:batch])  # warm this shape
        seconds = statistics.median(
            timed(lambda specs=specs: engine.render(specs)) for _ in range(repeats)
        )
        rates[batch] = len(specs) / seconds
    for batch in (1, 8, 16):
        line(
            f"sd15_512_images_per_s_batch{batch}",
            rates[batch],
            "images/s",
            rates[1],
            rates[batch] / rates[1],
        )
    engine.max_batch = 16


def check_batch_invariance(engine: Engine, specs: list[RenderSpec]) -> None:
    batch = [replace(specs[0], seed=s) for s in range(8)]
    together = engine.render(batch)
    alone = engine.render([batch[5]])
    a, b = np.asarray(together[5].image, dtype=np.int16), np.asarray(alone[0].image, dtype=np.int16)
    same = bool(np.array_equal(a, b))
    print(
        f"note: batch-of-8 vs alone pixels identical: {'yes' if same else 'no'} "
        f"(max abs diff {int(np.abs(a - b).max())}, device {engine.describe_device()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer steps and repeats (< 1 min on 2 CPU cores)"
    )
    parser.add_argument("--model", choices=[TINY_RANDOM, SD15_RANDOM], default=TINY_RANDOM)
    parser.add_argument(
        "--only", choices=["best_of_n"], help="run one figure only (the study's setup is skipped)"
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    args = parser.parse_args()
    if args.model == SD15_RANDOM and args.device != "cuda":
        parser.error("sd15-random is for GPU speed only; use --device cuda")

    steps = 10 if args.quick else 20
    repeats = 3 if args.quick else 5
    size = 256 if args.model == TINY_RANDOM else 512
    engine = Engine(device=args.device)
    specs = study_specs(args.model, steps, size)
    print(
        f"# render bench: {args.model} on {engine.describe_device()}, {len(specs)} images at {size}px, "
        f"{steps} steps, median of {repeats}"
    )
    # The baseline gets its own copy of the same weights: none of the engine's hooks or caches.
    naive_pipe = load_base_pipeline(args.model, device=engine.device, dtype=engine.dtype)
    naive_pipe.set_progress_bar_config(disable=True)
    naive = NaiveRenderer(naive_pipe)
    if args.only is None:
        bench_study(engine, naive, specs, repeats, subset=args.quick)
        bench_reuse(specs)
        with tempfile.TemporaryDirectory() as folder:
            bench_swaps(engine, naive.pipe, args.model, repeats, Path(folder))
        check_batch_invariance(engine, specs)
    n = 8 if args.quick else (64 if args.model == TINY_RANDOM else 32)
    bench_best_of_n(engine, naive.pipe, args.model, n=n, steps=steps, size=size, repeats=repeats)
    if args.model == SD15_RANDOM and args.only is None:
        bench_batches(engine, args.model, 2 if args.quick else 3)


if __name__ == "__main__":
    main()
