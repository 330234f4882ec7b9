"""Streaming export of judgments (ratings.export)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.cache import cache

from ratings import export
from ratings.models import Judgment
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
