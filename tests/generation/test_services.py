from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from generation.models import (
    ConfigAdapter,
    ConfigImmutableError,
    GenerationConfig,
    Image,
    LoraAdapter,
)
from generation.services.configs import ConfigDraft, config_copy, config_create
from tests.factories import PromptFactory, make_config, make_image

pytestmark = pytest.mark.django_db


def test_config_create_reuses_identical_settings() -> None:
    first, created = config_create(name="a", sampler="ddim", steps=20, cfg=7, width=512, height=512)
    again, created_again = config_create(
        name="b", sampler="ddim", steps=20, cfg=7.0, width=512, height=512
    )
    assert created and not created_again
    assert again.pk == first.pk
    assert GenerationConfig.objects.count() == 1


def test_config_fingerprint_changes_with_every_parameter() -> None:
    base = {"sampler": "ddim", "steps": 20, "cfg": 7.0, "width": 512, "height": 512}
    variants = [{}, {"sampler": "euler"}, {"steps": 21}, {"cfg": 7.5}, {"width": 520},
                {"compel_level": "low"}, {"negative_prompt": "ornate"}, {"vae": "some/vae"},
                {"base_model": "other/model"}, {"insert_trigger": False}]  # fmt: skip
    prints = {config_create(**{**base, **v})[0].fingerprint for v in variants}
    assert len(prints) == len(variants)


def test_config_fingerprint_includes_adapters() -> None:
    lora = LoraAdapter.objects.create(name="phol", weights="/x.safetensors", sha256="ab" * 32)
    plain, _ = config_create(sampler="ddim")
    with_lora, _ = config_create(sampler="ddim", adapters=[(lora, 0.8)])
    other_scale, _ = config_create(sampler="ddim", adapters=[(lora, 0.5)])
    assert len({plain.pk, with_lora.pk, other_scale.pk}) == 3
    assert list(with_lora.adapter_links.values_list("scale", flat=True)) == [0.8]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sampler", "k_euler_magic", "Unknown sampler 'k_euler_magic'"),
        ("steps", 0, "Steps must be between 1 and 150."),
        ("steps", 151, "Steps must be between 1 and 150."),
        ("cfg", 30.5, "CFG scale must be between 1 and 30."),
        ("width", 500, "multiples of 8 between 256 and 1024"),
        ("height", 2048, "multiples of 8 between 256 and 1024"),
        ("compel_level", "extreme", "Compel level must be one of none, low, medium, high"),
        ("negative_prompt", "ornate (vintage", "Negative prompt syntax: Unbalanced '('"),
    ],
)
def test_config_create_rejects_bad_values_naming_the_field(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        config_create(**{field: value})
    assert field in info.value.message_dict
    assert any(message in m for m in info.value.message_dict[field])
    assert GenerationConfig.objects.count() == 0


def test_config_create_rejects_adapter_scale_out_of_range() -> None:
    lora = LoraAdapter.objects.create(name="sks", weights="/x.safetensors", sha256="cd" * 32)
    with pytest.raises(ValidationError, match="Adapter scale must be between -2 and 2."):
        config_create(sampler="ddim", adapters=[(lora, 2.5)])
    assert GenerationConfig.objects.count() == 0


def test_config_is_immutable_once_rendered() -> None:
    image = make_image()
    config = image.config
    config.steps = 30
    config.save()  # nothing rendered yet: edits are fine
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE)
    config.refresh_from_db()
    config.cfg = 9
    with pytest.raises(ConfigImmutableError, match="copy it and edit the copy instead"):
        config.save()
    config.refresh_from_db()
    config.name = "renamed is fine"
    config.save()
    lora = LoraAdapter.objects.create(name="phol", weights="/x.safetensors", sha256="ef" * 32)
    with pytest.raises(ConfigImmutableError):
        ConfigAdapter.objects.create(config=config, adapter=lora, scale=1)


def test_config_copy_makes_new_config() -> None:
    config = make_config(sampler="ddim", name="base")
    copy, created = config_copy(config=config, cfg=9.0)
    assert created and copy.pk != config.pk
    assert copy.cfg == 9.0 and copy.sampler == "ddim" and copy.name == "base (copy)"


def test_image_unique_per_config_prompt_seed() -> None:
    image = make_image(seed=7)
    with pytest.raises(IntegrityError):
        Image.objects.create(config=image.config, prompt=image.prompt, seed=7)


def test_image_seed_range_enforced_in_database() -> None:
    with pytest.raises(IntegrityError):
        Image.objects.create(config=make_config(), prompt=PromptFactory(), seed=2**32)


def test_image_names_are_opaque() -> None:
    a, b = make_image(seed=1), make_image(seed=2)
    assert a.token != b.token and len(a.token) == 32


@pytest.mark.django_db
def test_a_saved_config_and_its_builder_draft_give_a_design_the_same_params() -> None:
    lora = LoraAdapter.objects.create(name="dp", weights="/x.safetensors", sha256="ef" * 32)
    saved, _ = config_create(sampler="ddim", steps=12, adapters=[(lora, 0.75)])
    draft = ConfigDraft(name="", params=saved.params(), adapters=((lora, 0.75),), levels={})
    assert draft.fingerprint == saved.fingerprint
    assert saved.design_params() == draft.design_params()
    assert saved.design_params()["adapters"] == (("ef" * 32, 0.75),)
