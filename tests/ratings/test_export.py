"""Streaming export of judgments (ratings.export)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.cache import cache

from generation.models import GenerationConfig, Image
from generation.services.rendering import image_resolved_params
from ratings import export
from ratings.models import Comparison, Judgment
from tests.factories import launched, rater, vote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Reports are cached by study id and vote counts; rolled-back tests can reuse both.
    cache.clear()


def test_neutralise_defuses_spreadsheet_formulas() -> None:
    assert export.neutralise('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert [export.neutralise(v) for v in ("+1", "-blurry", "@SUM(A1)", "\tx")] == [
        "'+1", "'-blurry", "'@SUM(A1)", "'\tx"
    ]  # fmt: skip
    assert export.neutralise("plain, text") == "plain, text"
    assert export.neutralise(-3) == -3  # numbers are data, not formulas


def test_rater_pseudonym_is_stable_per_study() -> None:
    a = export.rater_pseudonym(study_id=1, rater_id=7)
    assert a == export.rater_pseudonym(study_id=1, rater_id=7)
    assert a != export.rater_pseudonym(study_id=2, rater_id=7)
    assert a.startswith("r-") and len(a) == 14


def test_csv_round_trips_through_the_csv_module() -> None:
    study, comps, crit = launched(n_configs=2)
    (comp,) = comps
    user, banned = rater(username="alice"), rater()
    j = vote(comp, user, crit, "b", left="b", ms=1234)
    Judgment.objects.filter(pk=j.pk).update(tags=["=cmd|' /C calc'!A0", "prongs"])
    vote(comp, user, crit, "a", left="a", repeat=True)
    vote(comp, banned, crit, "a")
    study.excluded_raters.add(banned)
    text = "".join(export.csv_lines(export.judgment_records(study=study)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(export.COLUMNS)
    assert len(rows) == 2  # the excluded rater's vote is left out
    first, repeat = rows
    config_b = comp.image_b.config
    assert first["comparison_id"] == str(comp.pk) and first["criterion"] == "prompt_adherence"
    assert first["outcome"] == "win" and first["winner"] == "b"
    assert first["winner_config_id"] == str(config_b.pk)
    assert first["left"] == "b" and first["left_image_id"] == str(comp.image_b_id)
    assert first["config_b_sampler"] == config_b.sampler
    assert first["config_b_cfg"] == str(config_b.cfg)
    assert first["config_a_adapters"] == ""
    assert first["response_ms"] == "1234" and first["is_repeat"] == "False"
    assert first["tags"] == "'=cmd|' /C calc'!A0; prongs"
    assert first["rater"] == export.rater_pseudonym(study_id=study.pk, rater_id=user.pk)
    assert "alice" not in text
    assert repeat["is_repeat"] == "True" and repeat["winner"] == "a"
    # Every text cell that could start a formula is quoted.
    assert not any(
        v.startswith(("=", "+", "@")) or (v.startswith("-") and not v[1:2].isdigit())
        for row in rows
        for v in row.values()
    )


def test_csv_negative_prompt_with_a_leading_dash_is_neutralised() -> None:
    study, comps, crit = launched(n_configs=2)
    from generation.models import GenerationConfig

    GenerationConfig.objects.filter(pk=comps[0].image_a.config_id).update(
        negative_prompt="-blurry, =ugly"
    )
    vote(comps[0], rater(), crit, "a")
    rows = list(
        csv.DictReader(io.StringIO("".join(export.csv_lines(export.judgment_records(study=study)))))
    )
    assert rows[0]["config_a_negative_prompt"] == "'-blurry, =ugly"


def test_jsonl_lines_carry_full_config_parameters() -> None:
    study, comps, crit = launched(n_configs=2)
    vote(comps[0], rater(), crit, "tie")
    lines = list(export.jsonl_lines(export.judgment_records(study=study, criterion=crit)))
    assert len(lines) == 1 and lines[0].endswith("\n")
    record = json.loads(lines[0])
    assert (
        record["outcome"] == "tie" and record["winner"] == "" and record["winner_config_id"] is None
    )
    assert record["config_a"]["id"] == comps[0].image_a.config_id
    assert set(record["config_a"]) >= {"sampler", "steps", "cfg", "adapters", "label", "width"}
    assert record["tags"] == []


def test_export_is_a_lazy_stream() -> None:
    study, comps, crit = launched(n_configs=2)
    for _ in range(5):
        vote(comps[0], rater(), crit, "a")
    stream = export.csv_lines(export.judgment_records(study=study))
    assert next(stream).startswith("study_id,")  # header before any row is read
    assert sum(1 for _ in stream) == 5


def _rendered(comp: Comparison, *, versions: dict[str, str]) -> None:
    """Record image a's recipe as the worker does when it stores a render."""
    image = Image.objects.get(pk=comp.image_a_id)
    GenerationConfig.objects.filter(pk=image.config_id).update(negative_prompt="-blurry, worn")
    image.refresh_from_db()
    Image.objects.filter(pk=image.pk).update(params=image_resolved_params(image), versions=versions)


def test_csv_lines_carry_each_image_rendered_text_seed_and_versions() -> None:
    study, comps, crit = launched(n_configs=2)
    (comp,) = comps
    _rendered(comp, versions={"diffusers": "0.31.0", "torch": "2.5.1"})
    vote(comp, rater(), crit, "a")
    text = "".join(export.csv_lines(export.judgment_records(study=study)))
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["image_a_rendered_prompt"] == comp.prompt.text
    assert row["image_a_rendered_negative_prompt"] == "'-blurry, worn"  # neutralised
    assert row["image_a_rendered_seed"] == str(comp.seed)
    assert row["image_a_versions"] == "diffusers 0.31.0, torch 2.5.1"
    # Image b has no recorded render: its recipe cells are empty, not guessed from the config.
    assert row["image_b_rendered_prompt"] == "" and row["image_b_rendered_seed"] == ""
    assert row["image_b_versions"] == ""


def test_jsonl_lines_carry_each_image_rendered_recipe() -> None:
    study, comps, crit = launched(n_configs=2)
    (comp,) = comps
    _rendered(comp, versions={"diffusers": "0.31.0"})
    vote(comp, rater(), crit, "b")
    (line,) = export.jsonl_lines(export.judgment_records(study=study))
    record = json.loads(line)
    assert record["image_a_rendered_prompt"] == comp.prompt.text
    assert record["image_a_rendered_negative_prompt"] == "-blurry, worn"
    assert record["image_a_rendered_seed"] == comp.seed
    assert record["image_a_versions"] == {"diffusers": "0.31.0"}
    assert record["image_b_rendered_seed"] is None and record["image_b_versions"] == {}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_fast_lines_equal_the_records_written_one_by_one(fmt: str) -> None:
    study, comps, crit = launched(n_configs=3)
    _rendered(comps[0], versions={"diffusers": "0.31.0", "torch": "2.5.1"})
    user = rater()
    for i, comp in enumerate(comps):
        vote(comp, user, crit, "ab"[i % 2], left="ab"[(i + 1) % 2], ms=900 + i)
    vote(comps[0], user, crit, "tie", repeat=True)
    write = export.csv_lines if fmt == "csv" else export.jsonl_lines
    fast = list(write(export.judgment_records(study=study)))
    plain = list(write(list(export.judgment_records(study=study))))
    assert len(fast) == len(plain) >= 4
    assert fast == plain
    assert "0.31.0" in "".join(fast)
