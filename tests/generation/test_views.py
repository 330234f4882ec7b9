"""Researcher pages for prompts, adapters and configurations; the factor builder's expansion."""

from __future__ import annotations

import json
import struct
from math import comb
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from generation.forms import FactorBuilderForm
from generation.models import GenerationConfig, Image, LoraAdapter, Prompt
from generation.selectors import design_counts
from generation.services.configs import (
    config_factor_levels_expand,
    config_update,
    configs_create_from_drafts,
)
from generation.services.prompts import prompts_import_csv
from generation.views import _builder_preview
from tests.factories import PromptFactory, make_config, make_image, rater, researcher

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
BASE = {"base_model": "tiny-random", "width": 256, "height": 256, "insert_trigger": True}


def safetensors_bytes() -> bytes:
    header = json.dumps(
        {
            "lora.down.weight": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]},
            "lora.up.weight": {"dtype": "F32", "shape": [2, 1], "data_offsets": [8, 16]},
        }
    ).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 16


@pytest.fixture
def research_client(client: Client) -> Client:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    return client


# --- factor expansion and design counts (pure) -------------------------------------------------


def test_config_factor_levels_expand_full_factorial_counts() -> None:
    drafts = config_factor_levels_expand(
        base=BASE,
        levels={"sampler": ["euler_a", "ddim", "dpmpp_2m"], "cfg": [5, 7], "steps": [20, 30]},
        mode="factorial",
    )
    assert len(drafts) == 12
    assert len({d.fingerprint for d in drafts}) == 12
    assert drafts[0].levels == {"sampler": "euler_a", "steps": 20, "cfg": 5}


def test_config_factor_levels_expand_one_factor_around_the_first_levels() -> None:
    drafts = config_factor_levels_expand(
        base=BASE,
        levels={
            "sampler": ["euler_a", "ddim", "dpmpp_2m"],
            "cfg": [7, 5, 9],
            "steps": [20, 30],
            "compel_level": ["none", "medium"],
        },
        mode="one_factor",
    )
    # baseline + (3-1) + (3-1) + (2-1) + (2-1)
    assert len(drafts) == 7
    assert drafts[0].name == "baseline"
    expected = {**BASE, "sampler": "euler_a", "cfg": 7, "steps": 20, "compel_level": "none"}
    assert {k: drafts[0].params[k] for k in expected} == expected
    assert [d.name for d in drafts[1:3]] == ["ddim", "dpmpp_2m"]
    baseline = drafts[0].params
    for draft in drafts[1:]:
        assert sum(draft.params[k] != baseline[k] for k in baseline) == 1


def test_config_factor_levels_expand_adapter_scale_needs_an_adapter() -> None:
    with pytest.raises(ValidationError, match="Choose the adapter"):
        config_factor_levels_expand(base=BASE, levels={"adapter_scale": [0.5, 1]}, mode="factorial")
    lora = LoraAdapter.objects.create(name="phol", weights="/x.safetensors", sha256="ab" * 32)
    drafts = config_factor_levels_expand(
        base=BASE, levels={"adapter_scale": [0.5, 1.0]}, mode="factorial", adapter=lora
    )
    assert [d.adapters for d in drafts] == [((lora, 0.5),), ((lora, 1.0),)]


def _counts(drafts: list, prompts: int = 1, seeds: int = 1) -> dict[str, object]:
    rows = design_counts(
        params={i: d.design_params() for i, d in enumerate(drafts)},
        prompts=prompts,
        seeds=seeds,
        baseline_id=0,
    )
    return {r.design: r for r in rows}


def test_design_counts_all_pairs_of_twelve_configs_is_66_per_prompt_seed() -> None:
    drafts = config_factor_levels_expand(
        base=BASE,
        levels={"sampler": ["euler_a", "ddim", "dpmpp_2m"], "cfg": [5, 7], "steps": [20, 30]},
        mode="factorial",
    )
    counts = _counts(drafts, prompts=3, seeds=2)
    assert counts["all_pairs"].pairs_per_cell == 66 == comb(12, 2)
    assert counts["all_pairs"].comparisons == 66 * 6
    assert counts["all_pairs"].images == 12 * 6
    assert counts["adaptive"].pairs_per_cell == 66
    assert counts["vs_baseline"].pairs_per_cell == 11
    assert counts["vs_baseline"].comparisons == 66
    # 3 × 2 × 2 grid: pairs differing in exactly one factor = 12·(2 + 1 + 1)/2
    assert counts["one_factor"].pairs_per_cell == 24


def test_design_counts_one_factor_at_a_time_builder() -> None:
    drafts = config_factor_levels_expand(
        base=BASE,
        levels={"sampler": ["euler_a", "ddim", "dpmpp_2m"], "cfg": [7, 5, 9], "steps": [20, 30]},
        mode="one_factor",
    )
    counts = _counts(drafts, prompts=2, seeds=2)
    assert len(drafts) == 6
    # every non-baseline config differs from the baseline in one factor (5 pairs), and
    # configs varying the same factor differ from each other in one factor (1 + 1 pairs)
    assert counts["one_factor"].pairs_per_cell == 7
    assert counts["one_factor"].comparisons == 28
    assert counts["vs_baseline"].pairs_per_cell == 5
    assert counts["all_pairs"].pairs_per_cell == 15


def test_configs_create_from_drafts_reuses_fingerprints_and_is_all_or_nothing() -> None:
    existing = make_config(sampler="ddim", cfg=7.0)
    drafts = config_factor_levels_expand(
        base={**BASE, "steps": 4}, levels={"sampler": ["euler_a", "ddim"]}, mode="factorial"
    )
    results = configs_create_from_drafts(drafts=drafts)
    assert [created for _, created in results] == [True, False]
    assert results[1][0].pk == existing.pk
    assert configs_create_from_drafts(drafts=drafts)[0][0].pk == results[0][0].pk
    bad = config_factor_levels_expand(
        base={**BASE, "width": 300}, levels={"sampler": ["heun", "lms"]}, mode="factorial"
    )
    with pytest.raises(ValidationError, match="multiples of 8"):
        configs_create_from_drafts(drafts=bad)
    assert GenerationConfig.objects.count() == 2


def test_config_update_refuses_rendered_configs_but_allows_renaming() -> None:
    image = make_image()
    config = image.config
    config_update(config=config, name="renamed", adapters=[], steps=6)
    assert GenerationConfig.objects.get(pk=config.pk).steps == 6
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE)
    with pytest.raises(ValidationError, match="copy it and edit the copy"):
        config_update(config=config, name="x", adapters=[], steps=8)
    config_update(config=config, name="only the name", adapters=[])
    config.refresh_from_db()
    assert (config.name, config.steps) == ("only the name", 6)


def test_prompts_import_csv_reports_every_bad_row_and_imports_nothing() -> None:
    text = (
        "text,category,key_terms,material,setting,stone,background,style\n"
        "huggie hoops gold,huggie hoops,huggie hoops;gold,gold,hoop,,white,minimal\n"
        ",threader earrings,,,,,,\n"
        "band (platinum,channel-set band,,,,,,\n"
        "ok ring,,,,,,,\n"
    )
    with pytest.raises(ValidationError) as info:
        prompts_import_csv(text=text)
    assert info.value.messages == [
        "Line 3: text: This field cannot be blank.",
        "Line 4: text: Prompt syntax: Unbalanced '(' at position 6: it is never closed.",
        "Line 5: category: This field cannot be blank.",
    ]
    assert Prompt.objects.count() == 0
    created = prompts_import_csv(text=text.split(",threader")[0].rsplit("\n", 1)[0] + "\n")
    assert [p.key_terms for p in created] == [["huggie hoops", "gold"]]


# --- pages ---------------------------------------------------------------------------------


def test_pages_are_for_researchers_only(client: Client) -> None:
    rater(username="ray")
    client.login(username="ray", password="pw")
    for url in ["/prompts/", "/prompts/new/", "/adapters/", "/configs/", "/configs/build/"]:
        assert client.get(url).status_code == 403, url


def test_prompt_list_filters_return_the_table_fragment(research_client: Client) -> None:
    PromptFactory(text="gold huggie hoops", category="huggie hoops", material="gold")
    PromptFactory(text="platinum band", category="channel-set band", material="platinum")
    page = research_client.get("/prompts/")
    assert b"<h1>Prompts</h1>" in page.content and b"platinum band" in page.content
    fragment = research_client.get("/prompts/?material=gold", **HX)
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="prompt-table">')
    assert "gold huggie hoops" in body and "platinum band" not in body and "<html" not in body
    empty = research_client.get("/prompts/?material=gold&category=channel-set+band", **HX)
    assert b"No prompt matches these filters" in empty.content


def test_prompt_form_shows_shared_messages_and_saves(research_client: Client) -> None:
    response = research_client.post("/prompts/new/", {"text": "ring (gold", "category": "band"})
    assert response.status_code == 200
    assert "Prompt syntax: Unbalanced &#x27;(&#x27; at position 6" in response.content.decode()
    response = research_client.post(
        "/prompts/new/",
        {"text": "gold ring", "category": "band", "key_terms": "gold ring; band"},
    )
    assert response.status_code == 302
    prompt = Prompt.objects.get()
    assert prompt.key_terms == ["gold ring", "band"]
    edit = research_client.get(f"/prompts/{prompt.pk}/edit/")
    assert b"gold ring; band" in edit.content


def test_prompt_import_page_lists_bad_lines(research_client: Client) -> None:
    bad = SimpleUploadedFile("p.csv", b"text,category\nok,band\n,band\n", "text/csv")
    response = research_client.post("/prompts/import/", {"file": bad})
    assert b"Nothing was imported" in response.content
    assert b"Line 3: text: This field cannot be blank." in response.content
    assert Prompt.objects.count() == 0
    good = SimpleUploadedFile("p.csv", b"text,category\nok,band\nfine,band\n", "text/csv")
    assert research_client.post("/prompts/import/", {"file": good}).status_code == 302
    assert Prompt.objects.count() == 2


def test_prompt_import_page_refuses_a_file_that_is_not_utf8(research_client: Client) -> None:
    latin1 = SimpleUploadedFile("p.csv", "text,category\nbagué,ring\n".encode("latin-1"))
    response = research_client.post("/prompts/import/", {"file": latin1})
    assert response.status_code == 200
    assert b"The file is not UTF-8 text: save the CSV as UTF-8 and try again." in response.content
    assert Prompt.objects.count() == 0


def test_adapter_upload_computes_sha256_and_rejects_bad_files(
    research_client: Client, tmp_path: Path, settings: Any
) -> None:
    settings.LOUPE_ADAPTER_ROOTS = [str(tmp_path)]
    data = safetensors_bytes()
    upload = SimpleUploadedFile("phol.safetensors", data)
    response = research_client.post(
        "/adapters/",
        {"name": "phol", "upload": upload, "trigger_token": "phol", "default_scale": "0.8"},
    )
    assert response.status_code == 302
    adapter = LoraAdapter.objects.get()
    import hashlib

    assert adapter.sha256 == hashlib.sha256(data).hexdigest()
    assert Path(adapter.weights).read_bytes() == data
    pickle = SimpleUploadedFile("x.bin", b"not safetensors")
    response = research_client.post(
        "/adapters/", {"name": "x", "upload": pickle, "default_scale": "1"}
    )
    assert b"must be a .safetensors file" in response.content
    junk = SimpleUploadedFile("junk.safetensors", b"\xff" * 40)
    response = research_client.post(
        "/adapters/", {"name": "junk", "upload": junk, "default_scale": "1"}
    )
    assert b"Not a readable safetensors file" in response.content
    on_disk = tmp_path / "sks.safetensors"
    on_disk.write_bytes(data)
    response = research_client.post(
        "/adapters/", {"name": "sks", "path": str(on_disk), "default_scale": "3"}
    )
    assert b"Adapter scale must be between -2 and 2." in response.content
    assert LoraAdapter.objects.count() == 1


def test_config_new_reuses_identical_settings_with_a_notice(research_client: Client) -> None:
    fields = {"name": "a", "base_model": "tiny-random", "sampler": "ddim", "steps": "4",
              "cfg": "7", "compel_level": "none", "width": "256", "height": "256",
              "insert_trigger": "on"}  # fmt: skip
    first = research_client.post("/configs/new/", fields)
    assert first.status_code == 302
    again = research_client.post("/configs/new/", fields, follow=True)
    assert b"reused it instead of making a duplicate" in again.content
    assert GenerationConfig.objects.count() == 1
    bad = research_client.post("/configs/new/", {**fields, "steps": "500", "cfg": "40"})
    assert b"Steps must be between 1 and 150." in bad.content
    assert b"CFG scale must be between 1 and 30." in bad.content


def test_config_edit_of_rendered_config_is_a_form_error_with_copy(research_client: Client) -> None:
    image = make_image(status=Image.Status.DONE)
    config = image.config
    fields = {**config.params(), "name": "x", "steps": 9}
    fields["insert_trigger"] = "on"
    response = research_client.post(f"/configs/{config.pk}/edit/", fields)
    assert response.status_code == 200
    assert b"cannot be changed: copy it and edit the copy instead" in response.content
    assert f"/configs/new/?from={config.pk}".encode() in response.content
    copy_form = research_client.get(f"/configs/new/?from={config.pk}")
    assert b"(copy)" in copy_form.content
    config.refresh_from_db()
    assert config.steps == 4


def test_config_detail_shows_params_and_thumbnail_grid(research_client: Client) -> None:
    image = make_image(seed=3)
    response = research_client.get(f"/configs/{image.config.pk}/")
    assert b"Resolved parameters" in response.content
    assert image.prompt.text.encode() in response.content
    grid = research_client.get(f"/configs/{image.config.pk}/?seed=3", **HX)
    assert grid.content.decode().lstrip().startswith('<section id="grid">')


def test_config_build_preview_fragment_then_create(research_client: Client) -> None:
    make_config(sampler="ddim", cfg=5.0, base_model="tiny-random")
    form = {"mode": "factorial", "samplers": ["euler_a", "ddim", "dpmpp_2m"], "steps": "4",
            "cfg": "5, 7", "compel_levels": ["none", "medium"], "negative_prompts": "",
            "vaes": "", "base_model": "tiny-random", "width": "256", "height": "256",
            "insert_trigger": "on", "prompts": "3", "seeds": "2", "name_prefix": "grid"}  # fmt: skip
    preview = research_client.post("/configs/build/", {**form, "action": "preview"}, **HX)
    body = preview.content.decode()
    assert body.lstrip().startswith('<section class="card preview" id="preview"')
    assert '<strong class="big">12</strong> configurations' in body
    assert "1 already exists and will be reused" in body
    assert '<td class="num">66</td>' in body  # all pairs per prompt × seed
    assert '<td class="num">396</td>' in body  # 66 × 3 prompts × 2 seeds
    assert "default of 0.5 s per image" in body
    assert GenerationConfig.objects.count() == 1
    bad = research_client.post(
        "/configs/build/", {**form, "steps": "4, 400", "action": "preview"}, **HX
    )
    assert "Steps must be between 1 and 150." in bad.content.decode()
    created = research_client.post("/configs/build/", {**form, "action": "create"}, follow=True)
    assert b"Created 11 configurations." in created.content
    assert b"Reused 1 existing configuration" in created.content
    assert GenerationConfig.objects.count() == 12


def test_config_build_preview_rows_equal_what_create_makes(research_client: Client) -> None:
    adapter = LoraAdapter.objects.create(
        name="prongs", weights="/tmp/prongs.safetensors", sha256="ab" * 32,
        trigger_token="prongz", default_scale=0.8,
    )  # fmt: skip
    existing = make_config(sampler="ddim", cfg=5.0, base_model="tiny-random", name="old ddim")
    # "blurry  text" and "blurry text" render the same (whitespace is canonicalised); scale 0 is
    # the configuration without the adapter.
    form = {"mode": "factorial", "samplers": ["euler_a", "ddim"], "steps": "4", "cfg": "5",
            "compel_levels": ["none"], "negative_prompts": "blurry text\nblurry  text",
            "vaes": "", "adapter": str(adapter.pk), "adapter_scales": "0, 0.8",
            "base_model": "tiny-random", "width": "256", "height": "256",
            "insert_trigger": "on", "prompts": "2", "seeds": "1", "name_prefix": "lora"}  # fmt: skip
    preview = research_client.post("/configs/build/", {**form, "action": "preview"}, **HX)
    assert preview.status_code == 200
    built = FactorBuilderForm({**form, "action": "preview"})
    assert built.is_valid(), built.errors
    rows = _builder_preview(built)["drafts"]
    assert len(rows) == 4  # 2 samplers × 2 negatives × 2 scales, the whitespace twins collapsed
    assert '<strong class="big">4</strong> configurations' in preview.content.decode()
    assert "4 duplicate rows collapsed" in preview.content.decode()
    assert all(len(row["draft"].same_as) == 1 for row in rows)
    assert all(scale != 0 for row in rows for _, scale in row["draft"].adapters)
    created = research_client.post("/configs/build/", {**form, "action": "create"})
    assert created.status_code == 302
    ids = [int(pk) for pk in created["Location"].split("new=")[1].split(",")]
    made = [GenerationConfig.objects.get(pk=pk) for pk in ids]
    assert len(made) == len(rows)
    assert [c.fingerprint for c in made] == [row["draft"].fingerprint for row in rows]
    for config, row in zip(made, rows, strict=True):
        if row["existing"] is not None:
            assert config.pk == row["existing"].pk
        else:
            assert config.name == row["draft"].name
            assert config.pk != existing.pk
    assert GenerationConfig.objects.count() == 1 + sum(row["existing"] is None for row in rows)
    # Previewed again, every row names the configuration Create made for it, and Create adds none.
    again = _builder_preview(built)["drafts"]
    assert [row["existing"].pk for row in again] == ids
    assert (
        f"reuses existing config #{ids[0]}"
        in research_client.post(
            "/configs/build/", {**form, "action": "preview"}, **HX
        ).content.decode()
    )
    research_client.post("/configs/build/", {**form, "action": "create"})
    assert GenerationConfig.objects.count() == 1 + len(rows)


def test_prompt_pages_explain_the_csv_columns_the_import_takes(research_client: Client) -> None:
    """The empty prompt list, the import form and its sample header say what the import
    reads (PROMPT_CSV_HELP), trigger_token included: they listed eight columns by hand."""
    from generation.services.prompts import PROMPT_CSV_COLUMNS, PROMPT_CSV_HELP

    assert "trigger_token" in PROMPT_CSV_HELP
    for column in PROMPT_CSV_COLUMNS:
        assert column in PROMPT_CSV_HELP
    listing = research_client.get("/prompts/").content.decode()
    page = research_client.get("/prompts/import/").content.decode()
    assert PROMPT_CSV_HELP in listing and PROMPT_CSV_HELP in page
    assert f'<pre class="sample">{",".join(PROMPT_CSV_COLUMNS)}' in page
    sample = "text,category,trigger_token\nthreader earrings,threader earrings,phol\n"
    assert [p.trigger_token for p in prompts_import_csv(text=sample)] == ["phol"]
