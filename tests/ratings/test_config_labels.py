"""Configurations are told apart by what differs from the study's baseline, everywhere."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from generation.models import GenerationConfig, Image, LoraAdapter
from ratings import reports
from ratings.reports.configs import config_levels, study_labels
from ratings.services.studies import study_create, study_launch
from tests.factories import PromptFactory, by_configs, make_config, rater, researcher, vote

pytestmark = pytest.mark.django_db


def _jewelry_configs() -> list[GenerationConfig]:
    phol = LoraAdapter.objects.create(name="phol", weights="phol.safetensors", sha256="a" * 64,
                                      trigger_token="phol")  # fmt: skip
    base = make_config(name="", sampler="euler_a", negative_prompt="low quality, clutter")
    no_negative = make_config(name="", sampler="euler_a", negative_prompt="")
    lora = make_config(name="", sampler="euler_a", negative_prompt="low quality, clutter",
                       adapters=[(phol, 0.8)])  # fmt: skip
    return [base, no_negative, lora]


def _study(configs: list[GenerationConfig]) -> Any:
    study = study_create(prompts=[PromptFactory()], configs=configs, baseline=configs[0],
                         seeds_per_prompt=1, name="labels")  # fmt: skip
    study_launch(study=study)
    return study


def test_study_configs_label_each_config_by_its_difference_from_the_baseline() -> None:
    configs = _jewelry_configs()
    # The old label (sampler · steps · CFG · compel) is the same for all three.
    assert len({c.label for c in configs}) == 1
    study = _study(configs)
    labels = {cid: info.label for cid, info in reports.study_configs(study=study).items()}
    assert labels == {
        configs[0].pk: "baseline",
        configs[1].pk: "negative prompt: none",
        configs[2].pk: "LoRA phol ×0.8",
    }


def test_study_labels_without_a_baseline_name_the_varying_factors() -> None:
    a = make_config(sampler="ddim", cfg=7.0)
    b = make_config(sampler="euler_a", cfg=9.0)
    c = make_config(sampler="euler_a", cfg=7.0)
    levels = {x.pk: config_levels(x) for x in (a, b, c)}
    labels = study_labels(levels, baseline_id=None)
    assert labels[a.pk] == "sampler DDIM · CFG 7"
    assert len(set(labels.values())) == 3
    against_c = study_labels(levels, baseline_id=c.pk)
    assert against_c == {a.pk: "sampler DDIM", b.pk: "CFG 9", c.pk: "baseline"}


def test_leaderboard_export_and_pair_browser_use_the_difference_labels(client: Client) -> None:
    configs = _jewelry_configs()
    study = _study(configs)
    Image.objects.update(status=Image.Status.DONE, params={"prompt": "phol, threader earrings",
                         "negative_prompt": "", "seed": 1234}, versions={"diffusers": "0.42.0"})  # fmt: skip
    comparisons = list(study.comparisons.select_related("image_a", "image_b"))
    crit = study.criteria.get(key="prompt_adherence")
    people = [rater() for _ in range(3)]
    for person in people:
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            vote(by_configs(comparisons, configs[a].pk, configs[b].pk), person, crit, "a")
    board = reports.study_leaderboard(study=study, criterion=crit)
    assert sorted(r.label for r in board.rows) == [
        "LoRA phol ×0.8", "baseline", "negative prompt: none",
    ]  # fmt: skip
    client.force_login(researcher())
    body = b"".join(client.get(f"/api/studies/{study.pk}/judgments.csv").streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert {r["config_a_label"] for r in rows} | {r["config_b_label"] for r in rows} == {
        "baseline", "negative prompt: none", "LoRA phol ×0.8",
    }  # fmt: skip
    page = client.get(f"/studies/{study.pk}/analysis/").content.decode()
    assert "negative prompt: none" in page and "LoRA phol ×0.8" in page
    assert "Rendered from" in page and "phol, threader earrings" in page
    assert "diffusers 0.42.0" in page
