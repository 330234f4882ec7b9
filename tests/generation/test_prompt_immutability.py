"""Prompts with rendered images are immutable (edit = copy), like configurations."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.models import Image, Prompt, PromptImmutableError
from tests.factories import make_image, researcher

pytestmark = pytest.mark.django_db
JSON = "application/json"


def _rendered_prompt() -> Prompt:
    image = make_image(status=Image.Status.DONE)
    return image.prompt


def test_prompt_save_refuses_changing_the_text_once_rendered() -> None:
    prompt = _rendered_prompt()
    prompt.text = "huggie hoops, yellow gold"
    with pytest.raises(PromptImmutableError, match="copy it and edit the copy"):
        prompt.save()
    prompt.refresh_from_db()
    prompt.material = "gold"  # a caption label, not what the image was rendered from
    prompt.save()


def test_prompt_save_allows_edits_while_images_are_only_queued() -> None:
    prompt = make_image(status=Image.Status.QUEUED).prompt
    prompt.text = "huggie hoops, yellow gold"
    prompt.save()
    assert Prompt.objects.get(pk=prompt.pk).text == "huggie hoops, yellow gold"


def test_prompt_api_patch_of_a_rendered_prompt_is_a_400_and_copy_makes_an_editable_one(
    client: Client,
) -> None:
    prompt = _rendered_prompt()
    client.force_login(researcher())
    refused = client.patch(f"/api/prompts/{prompt.pk}/", {"text": "new text"}, content_type=JSON)
    assert refused.status_code == 400
    assert "copy it and edit the copy instead" in str(refused.json())
    assert (
        client.patch(
            f"/api/prompts/{prompt.pk}/", {"style": "minimal"}, content_type=JSON
        ).status_code
        == 200
    )
    copied = client.post(f"/api/prompts/{prompt.pk}/copy/")
    assert copied.status_code == 201 and copied.json()["text"] == prompt.text
    edited = client.patch(
        f"/api/prompts/{copied.json()['id']}/", {"text": "new text"}, content_type=JSON
    )
    assert edited.status_code == 200
    prompt.refresh_from_db()
    assert prompt.text != "new text"


def test_prompt_edit_page_says_copy_to_change_and_prefills_the_copy(client: Client) -> None:
    prompt = _rendered_prompt()
    client.force_login(researcher())
    answer = client.post(
        f"/prompts/{prompt.pk}/edit/", {"text": "new text", "category": prompt.category}
    )
    assert answer.status_code == 200
    assert "copy it and edit the copy instead" in answer.content.decode()
    form = client.get(f"/prompts/new/?copy={prompt.pk}").content.decode()
    assert prompt.text in form
