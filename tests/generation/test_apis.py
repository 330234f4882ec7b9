"""REST API for prompts, adapters, configurations (incl. the factor builder) and images."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token

from generation.models import GenerationConfig, Image, LoraAdapter, Prompt
from tests.factories import PromptFactory, make_config, make_image, paint_done, rater, researcher

pytestmark = pytest.mark.django_db
JSON = "application/json"


def safetensors_bytes() -> bytes:
    header = json.dumps(
        {
            "lora.down.weight": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]},
            "lora.up.weight": {"dtype": "F32", "shape": [2, 1], "data_offsets": [8, 16]},
        }
    ).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 16


@pytest.fixture
def api(client: Client) -> Client:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    return client


def test_api_needs_a_researcher_and_accepts_tokens(client: Client) -> None:
    person = rater(username="ray")
    token = Token.objects.create(user=person)
    assert client.get("/api/configs/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 403
    boss = researcher(username="rita")
    token = Token.objects.create(user=boss)
    assert client.get("/api/configs/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


def test_prompt_crud_and_filters(api: Client) -> None:
    created = api.post(
        "/api/prompts/",
        {
            "text": "gold huggie hoops",
            "category": "huggie hoops",
            "key_terms": ["huggie hoops"],
            "material": "gold",
        },  # fmt: skip
        content_type=JSON,
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    PromptFactory(material="platinum")
    listed = api.get("/api/prompts/?material=gold").json()
    assert [p["id"] for p in listed["results"]] == [pk]
    patched = api.patch(f"/api/prompts/{pk}/", {"style": "minimal"}, content_type=JSON)
    assert patched.json()["style"] == "minimal"
    bad = api.patch(f"/api/prompts/{pk}/", {"key_terms": ["", "x"]}, content_type=JSON)
    assert bad.status_code == 400
    assert bad.json()["key_terms"] == ["Key terms must be a list of non-empty phrases."]
    assert api.delete(f"/api/prompts/{pk}/").status_code == 204


def test_prompt_csv_import_over_the_api(api: Client) -> None:
    bad = api.post(
        "/api/prompts/import/",
        {"csv": "text,category\nring,band\n(ring,band\n"},
        content_type=JSON,
    )
    assert bad.status_code == 400
    assert bad.json()["rows"] == [
        "Line 3: text: Prompt syntax: Unbalanced '(' at position 1: it is never closed."
    ]
    assert Prompt.objects.count() == 0
    upload = SimpleUploadedFile("p.csv", b"text,category,key_terms\nring,band,ring;band\n")
    ok = api.post("/api/prompts/import/", {"file": upload})
    assert ok.status_code == 201 and ok.json()[0]["key_terms"] == ["ring", "band"]


def test_adapter_register_by_upload_and_by_path(api: Client, tmp_path: Path, settings: Any) -> None:
    settings.LOUPE_ADAPTER_ROOTS = [str(tmp_path)]
    data = safetensors_bytes()
    response = api.post(
        "/api/adapters/",
        {
            "name": "phol",
            "upload": SimpleUploadedFile("phol.safetensors", data),
            "trigger_token": "phol",
            "default_scale": "0.9",
        },  # fmt: skip
    )
    assert response.status_code == 201, response.content
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()
    folder = tmp_path / "sks"
    folder.mkdir()
    (folder / "pytorch_lora_weights.safetensors").write_bytes(data)
    by_path = api.post("/api/adapters/", {"name": "sks", "weights": str(folder)}, content_type=JSON)
    assert by_path.status_code == 201
    assert by_path.json()["weights"].endswith("pytorch_lora_weights.safetensors")
    not_st = api.post(
        "/api/adapters/", {"name": "x", "weights": "/etc/hostname"}, content_type=JSON
    )
    assert not_st.status_code == 400
    assert not_st.json()["weights"] == [
        "Give a path inside the adapter folders (LOUPE_ADAPTER_ROOTS)."
    ]
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x05" * 30)
    bad = api.post("/api/adapters/", {"name": "j", "weights": str(junk)}, content_type=JSON)
    assert bad.status_code == 400 and "Not a readable safetensors file" in bad.json()["weights"][0]
    assert LoraAdapter.objects.count() == 2


def test_config_api_rejects_unknown_sampler_and_out_of_range_before_the_database(
    api: Client,
) -> None:
    response = api.post(
        "/api/configs/",
        {"sampler": "k_magic", "cfg": 31, "compel_level": "extreme", "steps": 0},
        content_type=JSON,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["sampler"][0].startswith("Unknown sampler 'k_magic'")
    assert body["cfg"] == ["CFG scale must be between 1 and 30."]
    assert body["steps"] == ["Steps must be between 1 and 150."]
    assert body["compel_level"][0].startswith("Compel level must be one of")
    assert GenerationConfig.objects.count() == 0


def test_config_update_while_unrendered_then_immutable(api: Client) -> None:
    config = make_config(sampler="ddim")
    ok = api.patch(f"/api/configs/{config.pk}/", {"steps": 6}, content_type=JSON)
    assert ok.status_code == 200 and ok.json()["steps"] == 6
    Image.objects.create(config=config, prompt=PromptFactory(), seed=1, status=Image.Status.DONE)
    refused = api.patch(f"/api/configs/{config.pk}/", {"cfg": 9}, content_type=JSON)
    assert refused.status_code == 400
    assert "copy it and edit the copy instead" in json.dumps(refused.json())
    renamed = api.patch(f"/api/configs/{config.pk}/", {"name": "kept"}, content_type=JSON)
    assert renamed.status_code == 200 and renamed.json()["name"] == "kept"
    assert api.delete(f"/api/configs/{config.pk}/").status_code == 400


def test_config_build_dry_run_counts_then_create(api: Client) -> None:
    body = {
        "mode": "factorial",
        "levels": {"sampler": ["euler_a", "ddim", "dpmpp_2m"], "cfg": [5, 7], "steps": [4, 6]},
        "width": 256, "height": 256, "prompts": 2, "seeds": 1, "dry_run": True,
    }  # fmt: skip
    preview = api.post("/api/configs/build/", body, content_type=JSON)
    assert preview.status_code == 200
    data = preview.json()
    assert len(data["configs"]) == 12 and GenerationConfig.objects.count() == 0
    designs = {d["design"]: d for d in data["designs"]}
    assert designs["all_pairs"]["pairs_per_prompt_seed"] == 66
    assert designs["all_pairs"]["comparisons"] == 132
    assert designs["vs_baseline"]["comparisons"] == 22
    assert designs["one_factor"]["pairs_per_prompt_seed"] == 24
    assert data["measured"] is False and data["seconds_per_image"] == 0.5
    created = api.post("/api/configs/build/", {**body, "dry_run": False}, content_type=JSON)
    assert created.status_code == 201
    assert GenerationConfig.objects.count() == 12
    again = api.post("/api/configs/build/", {**body, "dry_run": False}, content_type=JSON)
    assert all(c["reused"] for c in again.json()["configs"])
    assert GenerationConfig.objects.count() == 12


def test_config_build_reports_bad_levels(api: Client) -> None:
    response = api.post(
        "/api/configs/build/",
        {"levels": {"sampler": ["nope"], "steps": [500]}, "width": 100},
        content_type=JSON,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["levels"]["steps"]["0"] == ["Steps must be between 1 and 150."]
    assert body["levels"]["sampler"]["0"][0].startswith("Unknown sampler 'nope'")
    assert "multiples of 8 between 256 and 1024" in body["width"][0]
    assert GenerationConfig.objects.count() == 0


def test_image_detail_gives_config_prompt_seed_status_and_files(api: Client) -> None:
    image = make_image(seed=5)
    body = api.get(f"/api/images/{image.pk}/").json()
    assert (body["config"], body["prompt"], body["seed"], body["status"]) == (
        image.config_id, image.prompt_id, 5, "pending",
    )  # fmt: skip
    assert body["file"] is None and body["display_file"] is None  # not rendered yet


def test_image_detail_links_files_through_the_media_view(api: Client) -> None:
    image = paint_done(make_image(seed=5))
    body = api.get(f"/api/images/{image.pk}/").json()
    assert body["display_file"] == f"http://testserver/media/{image.display_file.name}"
    assert body["file"] == f"http://testserver/media/{image.file.name}"
    assert api.get(body["file"]).status_code == 200


def test_schema_and_docs_are_served(api: Client) -> None:
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ["/api/configs/build/", "/api/studies/{id}/launch/", "/api/studies/{id}/progress/",
                 "/api/prompts/import/", "/api/images/{id}/"]:  # fmt: skip
        assert path in text, path
    assert api.get("/api/docs/").status_code == 200


def _used_adapter() -> LoraAdapter:
    adapter = LoraAdapter.objects.create(
        name="phol", weights="/w/phol.safetensors", sha256="a" * 64, trigger_token="phol"
    )
    make_config(sampler="euler_a", adapters=[(adapter, 1.0)])
    return adapter


def test_adapter_update_refuses_a_new_trigger_token_once_configs_use_it(api: Client) -> None:
    adapter = _used_adapter()
    fingerprint = GenerationConfig.objects.get().fingerprint
    refused = api.patch(f"/api/adapters/{adapter.pk}/", {"trigger_token": "x"}, content_type=JSON)
    assert refused.status_code == 400
    assert list(refused.json()) == ["trigger_token"]
    assert refused.json()["trigger_token"][0].startswith("Configurations use this adapter")
    adapter.refresh_from_db()
    assert adapter.trigger_token == "phol"
    assert GenerationConfig.objects.get().fingerprint == fingerprint
    # The same token and the other fields may still change.
    ok = api.patch(f"/api/adapters/{adapter.pk}/",
                   {"trigger_token": "phol", "name": "phol v1", "default_scale": 0.8},
                   content_type=JSON)  # fmt: skip
    assert ok.status_code == 200, ok.json()
    adapter.refresh_from_db()
    assert (adapter.name, adapter.default_scale) == ("phol v1", 0.8)


def test_adapter_update_refuses_new_weights_and_lets_an_unused_token_change(api: Client) -> None:
    adapter = LoraAdapter.objects.create(
        name="sks", weights="/w/sks.safetensors", sha256="b" * 64, trigger_token="sks"
    )
    refused = api.patch(
        f"/api/adapters/{adapter.pk}/", {"weights": "/w/other.safetensors"}, content_type=JSON
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "weights": ["Weights are fixed once registered: register a new adapter."]
    }
    ok = api.patch(f"/api/adapters/{adapter.pk}/", {"trigger_token": "skz"}, content_type=JSON)
    assert ok.status_code == 200 and ok.json()["trigger_token"] == "skz"
    adapter.refresh_from_db()
    assert (adapter.weights, adapter.trigger_token) == ("/w/sks.safetensors", "skz")


def test_admin_shows_the_trigger_token_read_only_once_configs_use_the_adapter(
    admin_client: Client,
) -> None:
    unused = LoraAdapter.objects.create(name="u", weights="/w/u.safetensors", sha256="c" * 64)
    used = _used_adapter()
    page = "/admin/generation/loraadapter/{}/change/"
    assert 'name="trigger_token"' in admin_client.get(page.format(unused.pk)).content.decode()
    assert 'name="trigger_token"' not in admin_client.get(page.format(used.pk)).content.decode()


def test_config_api_and_build_default_to_the_sites_model_like_the_forms(
    api: Client, settings: Any
) -> None:
    from generation.forms import ConfigForm, FactorBuilderForm

    settings.LOUPE_MODEL = "sd15-random"
    assert ConfigForm().initial["base_model"] == "sd15-random"
    assert FactorBuilderForm().initial["base_model"] == "sd15-random"
    made = api.post("/api/configs/", {"steps": 4, "width": 256, "height": 256},
                    content_type=JSON)  # fmt: skip
    assert made.status_code == 201, made.json()
    assert made.json()["base_model"] == "sd15-random"
    assert (made.json()["sampler"], made.json()["compel_level"]) == ("euler_a", "none")
    built = api.post("/api/configs/build/", {"levels": {"steps": [4, 6]}}, content_type=JSON)
    assert built.status_code == 201, built.json()
    configs = GenerationConfig.objects.exclude(pk=made.json()["id"])
    assert {c.base_model for c in configs} == {"sd15-random"}
    assert {(c.width, c.height, c.sampler, c.insert_trigger) for c in configs} == {
        (512, 512, "euler_a", True)
    }
    # An edit leaves the stored model as it is.
    edited = api.patch(f"/api/configs/{made.json()['id']}/", {"steps": 5}, content_type=JSON)
    assert edited.status_code == 200 and edited.json()["base_model"] == "sd15-random"


def test_an_archived_adapter_goes_into_no_new_configuration(api: Client) -> None:
    """As on the pages (which offer none): the API refuses an archived adapter for a new
    configuration or a factor build; a configuration that already uses it keeps it."""
    adapter = _used_adapter()
    adapter.archived = True
    adapter.save(update_fields=["archived"])
    existing = GenerationConfig.objects.get()
    new = {"name": "new", "sampler": "ddim", "adapters": [{"adapter": adapter.pk, "scale": 0.8}]}
    refused = api.post("/api/configs/", new, content_type=JSON)
    assert refused.status_code == 400
    assert refused.json()["adapters"][0].startswith("Archived adapter: phol.")
    build = {"mode": "factorial", "levels": {"cfg": [5, 7]}, "adapter": adapter.pk,
             "prompts": 1, "seeds": 1, "dry_run": True}  # fmt: skip
    refused = api.post("/api/configs/build/", build, content_type=JSON)
    assert refused.status_code == 400 and "Archived adapter" in refused.json()["adapter"][0]
    assert GenerationConfig.objects.count() == 1
    kept = api.patch(f"/api/configs/{existing.pk}/", {"cfg": 8.0}, content_type=JSON)
    assert kept.status_code == 200, kept.content
    assert kept.json()["adapters"] == [{"adapter": adapter.pk, "scale": 1.0}]


def test_an_adapter_comes_from_an_upload_or_a_path_on_page_and_api(
    api: Client, tmp_path: Path, settings: Any
) -> None:
    """adapter_add owns the rule for both: the API and the page name the same field message."""
    from generation.services.adapters import UPLOAD_OR_PATH

    settings.LOUPE_ADAPTER_ROOTS = [str(tmp_path)]
    (tmp_path / "phol.safetensors").write_bytes(safetensors_bytes())
    upload = SimpleUploadedFile("phol.safetensors", safetensors_bytes())
    both = api.post("/api/adapters/", {"name": "both", "upload": upload,
                                       "weights": str(tmp_path / "phol.safetensors")})  # fmt: skip
    neither = api.post("/api/adapters/", {"name": "neither"}, content_type=JSON)
    for response in (both, neither):
        assert response.status_code == 400 and response.json() == {"weights": [UPLOAD_OR_PATH]}
    page = api.post("/adapters/", {"name": "neither", "default_scale": "1.0"})
    assert page.status_code == 200
    assert page.context["form"].errors["path"] == [UPLOAD_OR_PATH]
    assert not LoraAdapter.objects.exists()
