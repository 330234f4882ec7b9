"""Free text has maximum lengths, with messages naming the field."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.models import Prompt
from generation.validation import FREE_TEXT_MAX_CHARS, PROMPT_MAX_CHARS
from ratings.models import Study
from tests.factories import make_config, researcher

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture
def api(client: Client) -> Client:
    client.force_login(researcher())
    return client


def test_prompt_text_past_the_limit_is_a_400_on_the_text_field(api: Client) -> None:
    body = {
        "text": "gold hoop " * 101,  # DRF trims the last space: 1009 characters
        "category": "hoops",
        "key_terms": ["x" * 101],
    }
    answer = api.post("/api/prompts/", body, content_type=JSON)
    assert answer.status_code == 400
    errors = answer.json()
    assert errors["text"] == [
        f"The prompt must be at most {PROMPT_MAX_CHARS} characters (it has 1009)."
    ]
    assert "at most 100 characters" in errors["key_terms"][0]
    assert not Prompt.objects.exists()


def test_negative_prompt_past_the_limit_is_a_400_on_its_field(api: Client) -> None:
    body = {"name": "long", "sampler": "ddim", "negative_prompt": "x" * 1001,
            "width": 256, "height": 256}  # fmt: skip
    answer = api.post("/api/configs/", body, content_type=JSON)
    assert answer.status_code == 400
    assert "at most 1000 characters" in answer.json()["negative_prompt"][0]


def test_study_instructions_past_the_limit_are_a_400_on_their_field(api: Client) -> None:
    config = make_config(sampler="ddim")
    body = {"name": "s", "instructions": "x" * (FREE_TEXT_MAX_CHARS + 1),
            "configs": [config.pk], "prompts": []}  # fmt: skip
    answer = api.post("/api/studies/", body, content_type=JSON)
    assert answer.status_code == 400
    assert "instructions" in answer.json()
    assert not Study.objects.exists()
