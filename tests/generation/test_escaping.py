"""User strings are escaped wherever Django would render them raw (help texts)."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.models import LoraAdapter
from tests.factories import researcher

pytestmark = pytest.mark.django_db
MARKUP = '<img src=x onerror="alert(1)">'


def test_config_form_escapes_an_adapter_trigger_token_in_its_help_text(client: Client) -> None:
    LoraAdapter.objects.create(name="a", weights="/w.safetensors", sha256="0" * 64,
                               trigger_token=MARKUP)  # fmt: skip
    client.force_login(researcher())
    page = client.get("/configs/new/").content.decode()
    assert "Trigger: &lt;img src=x onerror=&quot;alert(1)&quot;&gt;." in page
    assert MARKUP not in page
