from __future__ import annotations

from pathlib import Path

import numpy as np

from generation.engine import AdapterSpec, Engine
from generation.engine.testing import adapter_for, pixels, same_render, tiny_spec


def test_lora_changes_pixels_and_scale_zero_equals_no_adapter(
    engine: Engine, lora_files: dict[str, Path]
) -> None:
    lora = lora_files["unet_te"]
    plain, full, off = engine.render(
        [
            tiny_spec(),
            tiny_spec(adapters=(adapter_for(lora, 1.0),)),
            tiny_spec(adapters=(adapter_for(lora, 0.0),)),
        ]
    )
    assert np.abs(pixels(full).astype(int) - pixels(plain)).mean() > 1.0
    assert np.array_equal(pixels(off), pixels(plain))


def test_lora_is_loaded_once_per_pipeline_and_never_leaks(
    engine: Engine, lora_files: dict[str, Path]
) -> None:
    adapter = adapter_for(lora_files["unet"], 0.8)
    before = engine.render([tiny_spec(seed=3)])[0]
    loads = engine.stats.lora_loads
    for _ in range(2):
        with_lora, without = engine.render(
            [tiny_spec(seed=3, adapters=(adapter,)), tiny_spec(seed=3)]
        )
        assert not np.array_equal(pixels(with_lora), pixels(without))
        assert np.array_equal(pixels(without), pixels(before))
    assert engine.stats.lora_loads - loads <= 1


def test_two_adapters_combine(engine: Engine, lora_files: dict[str, Path]) -> None:
    a = adapter_for(lora_files["unet_te"], 0.7)
    b = adapter_for(lora_files["unet"], 0.7)
    only_a, only_b, both = engine.render(
        [tiny_spec(adapters=(a,)), tiny_spec(adapters=(b,)), tiny_spec(adapters=(a, b))]
    )
    assert not np.array_equal(pixels(both), pixels(only_a))
    assert not np.array_equal(pixels(both), pixels(only_b))
    assert engine._load("tiny-random", "").pipe.get_active_adapters() == [
        a.adapter_name,
        b.adapter_name,
    ]


def test_text_encoder_lora_is_part_of_the_embedding_cache_key(
    engine: Engine, lora_files: dict[str, Path]
) -> None:
    encoder = engine._load("tiny-random", "").encoder
    adapter = adapter_for(lora_files["unet_te"], 1.0)
    spec = tiny_spec(adapters=(adapter,))
    engine.activate_adapters(spec)
    with_lora = encoder.encode("gold hoops", spec.adapter_state())
    engine.activate_adapters(tiny_spec())
    without = encoder.encode("gold hoops", ())
    assert not np.array_equal(with_lora.numpy(), without.numpy())


def test_missing_and_corrupt_adapters_fail_only_their_images(
    engine: Engine, lora_files: dict[str, Path], tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"this is not a safetensors file at all")
    missing = tmp_path / "gone.safetensors"
    good = adapter_for(lora_files["unet"])
    results = engine.render(
        [
            tiny_spec(seed=1),
            tiny_spec(seed=2, adapters=(AdapterSpec(str(missing), "ab" * 32, 1.0),)),
            tiny_spec(seed=3, adapters=(AdapterSpec(str(corrupt), "cd" * 32, 1.0),)),
            tiny_spec(seed=4, adapters=(good,)),
            tiny_spec(seed=5, adapters=(good, AdapterSpec(str(corrupt), "cd" * 32, 1.0))),
        ]
    )
    assert results[0].error is None and results[3].error is None
    assert results[1].error == f"adapter file not found: {missing}"
    assert results[2].error is not None
    assert results[2].error.startswith(f"adapter file is not a valid LoRA safetensors: {corrupt}")
    assert results[4].error == results[2].error
    assert [r.image is None for r in results] == [False, True, True, False, True]
    # The engine keeps serving after the failures, adapters included.
    again = engine.render([tiny_spec(seed=4, adapters=(good,))])[0]
    assert same_render(again, results[3])  # alone against in a batch


def test_adapter_folder_and_lora_free_safetensors_are_handled(
    engine: Engine, lora_files: dict[str, Path], tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import save_file

    folder = lora_files["unet"].parent
    by_folder, by_file = engine.render(
        [
            tiny_spec(
                adapters=(AdapterSpec(str(folder), adapter_for(lora_files["unet"]).sha256, 1.0),)
            ),
            tiny_spec(adapters=(adapter_for(lora_files["unet"]),)),
        ]
    )
    assert np.array_equal(pixels(by_folder), pixels(by_file))

    not_lora = tmp_path / "weights.safetensors"
    save_file({"conv.weight": torch.zeros(2, 2)}, str(not_lora))
    result = engine.render([tiny_spec(adapters=(AdapterSpec(str(not_lora), "ef" * 32, 1.0),))])[0]
    assert (
        result.error
        == f"adapter file is not a valid LoRA safetensors: {not_lora} (no LoRA tensors)"
    )
