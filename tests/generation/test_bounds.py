"""The factor builder counts combinations before building them (an immediate 400, nothing built)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from generation.models import GenerationConfig
from generation.services.configs import (
    BUILDER_MAX_LEVELS,
    config_factor_levels_count,
    config_factor_levels_expand,
)
from tests.factories import researcher

pytestmark = pytest.mark.django_db
# 100 × 100 × 200 = 2,000,000 combinations from 400 levels.
TWO_MILLION = {
    "steps": list(range(1, 101)),
    "cfg": [1 + i / 4 for i in range(100)],
    "negative_prompt": [f"blurry {i}" for i in range(200)],
}


@pytest.fixture
def never_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("the combinations were expanded before they were counted")

    monkeypatch.setattr("generation.services.configs.product", refuse)


def test_config_factor_levels_count_counts_both_modes() -> None:
    levels = {"steps": [4, 8, 8], "cfg": [5, 7, 9], "sampler": ["ddim"]}
    assert config_factor_levels_count(levels=levels, mode="factorial") == 6
    assert config_factor_levels_count(levels=levels, mode="one_factor") == 4


def test_config_factor_levels_expand_refuses_two_million_combinations_before_expanding(
    never_expanded: None,
) -> None:
    with pytest.raises(ValidationError) as refused:
        config_factor_levels_expand(base={}, levels=TWO_MILLION, mode="factorial")
    assert "These levels give 2000000 configurations" in refused.value.messages[0]


def test_config_factor_levels_count_refuses_too_many_levels_naming_the_factor() -> None:
    with pytest.raises(ValidationError) as refused:
        config_factor_levels_count(
            levels={"cfg": [5.0] * (BUILDER_MAX_LEVELS + 1)}, mode="one_factor"
        )
    assert refused.value.message_dict == {
        "cfg": [f"{BUILDER_MAX_LEVELS + 1} levels given; a factor takes at most 1000."]
    }


def test_config_build_api_with_two_million_combinations_is_an_immediate_400(
    client: Client, never_expanded: None
) -> None:
    client.force_login(researcher())
    answer = client.post(
        "/api/configs/build/",
        {"mode": "factorial", "levels": TWO_MILLION, "width": 256, "height": 256,
         "prompts": 1, "seeds": 1, "dry_run": True},
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 400
    assert "2000000 configurations" in str(answer.json())
    assert not GenerationConfig.objects.exists()


def test_config_build_page_with_two_million_combinations_says_so(
    client: Client, never_expanded: None
) -> None:
    client.force_login(researcher())
    form = {"mode": "factorial", "samplers": ["euler_a"],
            "steps": ", ".join(map(str, TWO_MILLION["steps"])),
            "cfg": ", ".join(map(str, TWO_MILLION["cfg"])),
            "compel_levels": ["none"], "negative_prompts": "\n".join(TWO_MILLION["negative_prompt"]),
            "vaes": "", "base_model": "tiny-random", "width": "256", "height": "256",
            "prompts": "1", "seeds": "1", "action": "preview"}  # fmt: skip
    answer = client.post("/configs/build/", form, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert "These levels give 2000000 configurations" in answer.content.decode()
