"""The LoRA workflow: scale 0 is no adapter; trigger tokens only where an adapter is meant."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from safetensors.numpy import save_file

from generation import adapter_files
from generation.adapter_files import lora_file_problem
from generation.forms import ConfigForm, FactorBuilderForm
from generation.models import GenerationConfig, LoraAdapter
from generation.services.adapters import adapter_register, trigger_tokens
from generation.services.configs import config_create
from generation.services.rendering import image_resolved_params
from tests.factories import PromptFactory, make_config, make_image

pytestmark = pytest.mark.django_db


def _adapter(name: str, token: str, category: str = "") -> LoraAdapter:
    return LoraAdapter.objects.create(name=name, weights=f"{name}.safetensors",
                                      sha256=name[0] * 64, trigger_token=token, category=category)  # fmt: skip


def test_config_create_treats_scale_zero_as_no_adapter() -> None:
    phol = _adapter("phol", "phol")
    plain = make_config(sampler="euler_a")
    zero, created = config_create(**{**plain.params(), "name": "zero"}, adapters=[(phol, 0.0)])
    assert not created and zero.pk == plain.pk
    assert GenerationConfig.objects.count() == 1 and not zero.adapter_links.exists()
    active, created = config_create(**plain.params(), adapters=[(phol, 0.8)])
    assert created and active.fingerprint != plain.fingerprint


def test_image_params_add_no_trigger_for_an_adapter_at_scale_zero() -> None:
    phol = _adapter("phol", "phol")
    config = make_config(sampler="euler_a", adapters=[(phol, 0.8)])
    # An older config may still hold a link at scale 0: it must not add the token either.
    config.adapter_links.update(scale=0.0)
    image = make_image(config=config, prompt=PromptFactory(text="threader earrings"))
    params = image_resolved_params(image)
    assert params["prompt"] == "threader earrings" and params["adapters"] == []


def test_trigger_tokens_go_only_into_prompts_the_adapter_is_meant_for() -> None:
    phol = _adapter("phol", "phol", category="threader earrings")
    sks = _adapter("sks", "sks", category="channel-set band")
    anywhere = _adapter("glow", "glw")
    threader = PromptFactory(text="gold threader earrings", category="threader earrings")
    band = PromptFactory(text="channel-set diamond band", category="channel-set band")
    both = [(phol, 1.0), (sks, 0.8), (anywhere, 0.5)]
    assert trigger_tokens(prompt=threader, adapters=both) == ["phol", "glw"]
    assert trigger_tokens(prompt=band, adapters=both) == ["sks", "glw"]
    # A prompt that names its trigger token takes that one alone, whatever its category.
    own = PromptFactory(text="hoops", category="huggie hoops", trigger_token="sks")
    assert trigger_tokens(prompt=own, adapters=both) == ["sks"]
    assert trigger_tokens(prompt=own, adapters=[(phol, 1.0)]) == []
    assert trigger_tokens(prompt=threader, adapters=[(phol, 0.0)]) == []


def test_image_params_put_the_trigger_only_on_the_adapters_prompts() -> None:
    phol = _adapter("phol", "phol", category="threader earrings")
    with_lora = make_config(sampler="euler_a", adapters=[(phol, 0.8)])
    without = make_config(sampler="ddim")
    threader = PromptFactory(text="gold threader earrings", category="threader earrings")
    band = PromptFactory(text="channel-set diamond band", category="channel-set band")
    rendered = {
        (c.pk, p.pk): image_resolved_params(make_image(config=c, prompt=p, seed=1))["prompt"]
        for c in (with_lora, without)
        for p in (threader, band)
    }
    assert rendered == {
        (with_lora.pk, threader.pk): "phol, gold threader earrings",
        (with_lora.pk, band.pk): "channel-set diamond band",
        (without.pk, threader.pk): "gold threader earrings",
        (without.pk, band.pk): "channel-set diamond band",
    }


def test_admin_cannot_change_a_registered_adapters_file_or_hash(admin_client: Client) -> None:
    phol = _adapter("phol", "phol")
    page = admin_client.get(f"/admin/generation/loraadapter/{phol.pk}/change/").content.decode()
    assert 'name="weights"' not in page and 'name="sha256"' not in page
    admin_client.post(f"/admin/generation/loraadapter/{phol.pk}/change/", {
        "name": "phol", "weights": "/etc/passwd", "sha256": "b" * 64, "trigger_token": "phol",
        "default_scale": 1.0, "category": "",
    })  # fmt: skip
    phol.refresh_from_db()
    assert phol.weights == "phol.safetensors" and phol.sha256 == "p" * 64


def test_admin_deletes_unused_adapters_and_archives_used_ones(admin_client: Client) -> None:
    unused, used = _adapter("unused", "unu"), _adapter("used", "usd")
    make_config(sampler="euler_a", adapters=[(used, 1.0)])
    delete = "/admin/generation/loraadapter/{}/delete/"
    assert admin_client.get(delete.format(used.pk)).status_code == 403
    admin_client.post(delete.format(unused.pk), {"post": "yes"})
    assert not LoraAdapter.objects.filter(pk=unused.pk).exists()
    admin_client.post("/admin/generation/loraadapter/",
                      {"action": "archive", "_selected_action": [used.pk]})  # fmt: skip
    used.refresh_from_db()
    assert used.archived
    assert (
        '<span class="badge badge-closed">archived</span>'
        in admin_client.get("/adapters/").content.decode()
    )
    assert f"adapter_{used.pk}" not in ConfigForm().fields
    assert used not in FactorBuilderForm().fields["adapter"].queryset
    # A configuration that uses it still shows it when edited.
    assert f"adapter_{used.pk}" in ConfigForm(adapter_scales={used.pk: 1.0}).fields


def _admin_config_post(config: GenerationConfig, scale: float, **params: Any) -> dict[str, Any]:
    """The admin's change form of `config` as posted: its fields and its one adapter link."""
    link = config.adapter_links.get()
    data: dict[str, Any] = {"name": config.name, **config.params(), **params}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not False}
    return data | {
        "adapter_links-TOTAL_FORMS": "1", "adapter_links-INITIAL_FORMS": "1",
        "adapter_links-MIN_NUM_FORMS": "0", "adapter_links-MAX_NUM_FORMS": "1000",
        "adapter_links-0-id": link.pk, "adapter_links-0-config": config.pk,
        "adapter_links-0-adapter": link.adapter_id, "adapter_links-0-scale": scale,
    }  # fmt: skip


def test_admin_edits_a_configuration_by_the_services_rules(admin_client: Client) -> None:
    """The admin checks an edit with config_change_check, as the pages and the API do: a
    rendered configuration keeps its settings and may be renamed, a new configuration may
    not repeat another's settings."""
    used = _adapter("used", "usd")
    config = make_config(sampler="euler_a", adapters=[(used, 0.8)])
    twin = make_config(sampler="ddim", adapters=[(used, 0.8)])
    make_image(config=config, status="done")
    url = f"/admin/generation/generationconfig/{config.pk}/change/"
    renamed = admin_client.post(url, _admin_config_post(config, 0.8, name="renamed"))
    assert renamed.status_code == 302, renamed.content.decode()[:2000]
    config.refresh_from_db()
    assert config.name == "renamed"
    for changed in (_admin_config_post(config, 0.9), _admin_config_post(config, 0.8, cfg=9.0),
                    _admin_config_post(config, 0.80001)):  # fmt: skip
        refused = admin_client.post(url, changed)
        assert refused.status_code == 200 and "has rendered images" in refused.content.decode()
    config.refresh_from_db()
    assert config.cfg != 9.0 and config.adapter_links.get().scale == 0.8
    clash = admin_client.post(
        f"/admin/generation/generationconfig/{twin.pk}/change/",
        _admin_config_post(twin, 0.8, sampler="euler_a"),
    )
    assert clash.status_code == 200
    assert f"identical to configuration {config.pk}" in clash.content.decode()


# --- Registration: the file must be a LoRA, the path inside LOUPE_ADAPTER_ROOTS -------------


def _lora_file(path: Path, tensors: dict[str, tuple[int, ...]] | None = None) -> Path:
    tensors = tensors or {
        "unet.up.attn.to_q.lora.down.weight": (4, 32),
        "unet.up.attn.to_q.lora.up.weight": (32, 4),
    }
    save_file({k: np.zeros(shape, dtype=np.float32) for k, shape in tensors.items()}, str(path))
    return path


def test_lora_file_problem_accepts_a_lora_and_checks_names_and_shapes(tmp_path: Path) -> None:
    assert lora_file_problem(_lora_file(tmp_path / "ok.safetensors")) is None
    peft = {"te.q_proj.lora_A.weight": (8, 16), "te.q_proj.lora_B.weight": (16, 8)}
    assert lora_file_problem(_lora_file(tmp_path / "peft.safetensors", peft)) is None
    plain = _lora_file(tmp_path / "model.safetensors", {"unet.conv.weight": (8, 8)})
    assert "Not a LoRA adapter file: it holds no LoRA tensors" in str(lora_file_problem(plain))
    lone = _lora_file(tmp_path / "lone.safetensors", {"x.lora_A.weight": (8, 16)})
    assert "has no matching up (B) tensor" in str(lora_file_problem(lone))
    bent = {"x.lora_down.weight": (4, 16), "x.lora_up.weight": (16, 8)}
    assert "do not form a low-rank pair" in str(
        lora_file_problem(_lora_file(tmp_path / "bent.safetensors", bent))
    )


def test_lora_file_problem_refuses_a_huge_header_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.safetensors"
    claimed = 300 * 2**20
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", claimed))
        handle.seek(8 + claimed + 16)  # sparse: the "header" is 300 MB of nothing
        handle.write(b"\0")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("safe_open must not be called on an oversized header")

    monkeypatch.setattr(adapter_files, "safe_open", refuse)
    problem = lora_file_problem(path)
    assert problem == (
        "Not a readable safetensors file: its header claims 300 MiB, more than the 8 MiB any "
        "LoRA needs"
    )


def test_adapter_register_reads_only_inside_the_adapter_roots(
    tmp_path: Path, settings: Any
) -> None:
    root, elsewhere = tmp_path / "adapters", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    settings.LOUPE_ADAPTER_ROOTS = [str(root)]
    _lora_file(root / "phol.safetensors")
    secret = _lora_file(elsewhere / "secret.safetensors")
    (root / "link.safetensors").symlink_to(secret)
    adapter = adapter_register(name="phol", weights="phol.safetensors", trigger_token="phol")
    assert adapter.weights == str((root / "phol.safetensors").resolve())
    outside = "Give a path inside the adapter folders (LOUPE_ADAPTER_ROOTS)."
    for raw in [str(secret), "../elsewhere/secret.safetensors", "link.safetensors",
                str(elsewhere / "missing.safetensors"), "/etc/passwd"]:  # fmt: skip
        with pytest.raises(ValidationError) as error:
            adapter_register(name="x", weights=raw)
        assert error.value.message_dict == {"weights": [outside]}, raw
    with pytest.raises(ValidationError) as error:
        adapter_register(name="x", weights="nothing-here.safetensors")
    message = error.value.message_dict["weights"][0]
    assert str(tmp_path) not in message and "nothing-here" not in message
    assert LoraAdapter.objects.count() == 1


def test_admin_refuses_to_add_a_twin_configuration(admin_client: Client) -> None:
    """A new configuration with another's settings gets the duplicate message, not a 500."""
    existing = make_config(sampler="euler_a")
    data: dict[str, Any] = {"name": "twin", **existing.params()}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not False}
    data |= {"adapter_links-TOTAL_FORMS": "0", "adapter_links-INITIAL_FORMS": "0",
             "adapter_links-MIN_NUM_FORMS": "0", "adapter_links-MAX_NUM_FORMS": "1000"}  # fmt: skip
    refused = admin_client.post("/admin/generation/generationconfig/add/", data)
    assert refused.status_code == 200
    assert f"identical to configuration {existing.pk}" in refused.content.decode()
    assert GenerationConfig.objects.count() == 1
