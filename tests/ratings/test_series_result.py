"""Studies over a checkpoint series: creation, and the result (strength by training step,
beside the loss) checked against simulated raters with known truth, as page, chart, CSV, API."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client

from generation.models import CheckpointSeries, Image
from generation.series_demo import demo_series_write
from generation.services.series import series_register
from ratings.models import Study
from ratings.series.chart import series_chart
from ratings.series.result import series_result
from ratings.series.services import series_study_create
from ratings.services.studies import study_launch
from tests.factories import (
    PromptFactory,
    make_config,
    paint_done,
    rater,
    ready_study,
    researcher,
    vote,
)

pytestmark = pytest.mark.django_db

STEPS = (100, 200, 300, 400)


def _series(settings: Any, name: str = "run") -> CheckpointSeries:
    root = Path(settings.LOUPE_ADAPTER_ROOTS[0])
    demo_series_write(root / name, steps=STEPS)
    return series_register(name=name, folder=name, base_config=make_config(sampler="euler_a"))


def _study(series: CheckpointSeries, *, seeds: int = 2) -> Study:
    """A launched, open series study whose images are painted done (no engine)."""
    study = series_study_create(series=series, name=f"{series.name} study", seeds_per_prompt=seeds,
                                prompts=[PromptFactory()])  # fmt: skip
    study_launch(study=study)
    for image in Image.objects.filter(config__in=study.configs.all()):
        paint_done(image)
    study.status = Study.Status.OPEN
    study.save(update_fields=["status"])
    return study


def _simulate(study: Study, truth: dict[int, float], *, raters: int, seed: int) -> None:
    """Raters vote on every comparison under a Bradley–Terry model with `truth` (config id →
    strength): a on top with probability σ(θa − θb)."""
    rng = np.random.default_rng(seed)
    criterion = study.criteria.get(key="prompt_adherence")
    comparisons = list(study.comparisons.select_related("image_a", "image_b"))
    for r in range(raters):
        user = rater(username=f"sim{seed}-{r}")
        for comp in comparisons:
            gap = truth[comp.image_a.config_id] - truth[comp.image_b.config_id]
            won = rng.random() < 1 / (1 + np.exp(-gap))
            vote(comp, user, criterion, "a" if won else "b", left="a" if r % 2 else "b")


def test_series_study_create_compares_every_pair_of_checkpoints(settings: Any) -> None:
    series = _series(settings)
    study = _study(series)
    configs = [c.config_id for c in series.checkpoints.order_by("step")]
    assert study.series_id == series.pk and study.kind == Study.Kind.PAIRWISE
    assert sorted(study.configs.values_list("pk", flat=True)) == sorted(configs)
    assert study.baseline_id == configs[0] and study.design == Study.Design.ALL_PAIRS
    # 6 pairs × 1 prompt × 2 seeds, each pair on one prompt and seed.
    assert study.comparisons.count() == 12
    assert {(c.image_a.seed == c.image_b.seed) for c in study.comparisons.all()} == {True}


def test_series_result_follows_strengths_that_rise_with_training(settings: Any) -> None:
    series = _series(settings)
    study = _study(series)
    steps = dict(series.checkpoints.values_list("config_id", "step"))
    truth_by_step = {100: -1.5, 200: -0.5, 300: 0.5, 400: 1.5}
    _simulate(study, {cid: truth_by_step[s] for cid, s in steps.items()}, raters=12, seed=3)
    criterion = study.criteria.get(key="prompt_adherence")
    result = series_result(study=study, criterion=criterion)
    assert [p.step for p in result.points] == list(STEPS)
    strengths = [p.strength for p in result.points]
    assert strengths == sorted(strengths), strengths
    first, last = result.points[0], result.points[-1]
    assert first.ci_high < last.ci_low, (first, last)
    covered = sum(p.ci_low <= truth_by_step[p.step] <= p.ci_high for p in result.points)
    assert covered >= 3, result.points
    assert result.judgments == 12 * 12 and result.raters == 12
    assert result.leader is not None and result.leader.step == 400
    # The loss beside it: loss.csv rows at these steps (every 25 steps from 0 to 400).
    assert len(result.loss) == 17 and all(p.loss is not None for p in result.points)


def test_series_result_finds_the_peak_when_later_training_overfits(settings: Any) -> None:
    """The truth peaks at step 200 and falls after it (overfitting): the fit ranks the
    checkpoints as the truth does, and the last is clearly below the peak."""
    series = _series(settings)
    study = _study(series)
    steps = dict(series.checkpoints.values_list("config_id", "step"))
    truth_by_step = {100: -1.5, 200: 1.5, 300: 0.5, 400: -0.5}
    _simulate(study, {cid: truth_by_step[s] for cid, s in steps.items()}, raters=12, seed=8)
    result = series_result(study=study, criterion=study.criteria.get(key="prompt_adherence"))
    by_step = {p.step: p for p in result.points}
    assert [p.step for p in sorted(result.points, key=lambda p: p.rank)] == [200, 300, 400, 100]
    assert result.leader is not None and result.leader.step == 200
    assert by_step[400].ci_high < by_step[200].ci_low


def test_series_result_puts_no_checkpoint_ahead_when_training_changed_nothing(
    settings: Any,
) -> None:
    series = _series(settings)
    study = _study(series)
    _simulate(study, dict.fromkeys(study.configs.values_list("pk", flat=True), 0.0),
              raters=12, seed=5)  # fmt: skip
    result = series_result(study=study, criterion=study.criteria.get(key="prompt_adherence"))
    assert len(result.points) == 4
    # 95 % intervals: each misses the truth (0) one time in twenty; at most one of four here
    # (over seeds 0–11, one run of twelve had one miss).
    assert sum(not p.ci_low < 0 < p.ci_high for p in result.points) <= 1, result.points
    assert result.best is None
    assert all(p.rank_high - p.rank_low >= 2 for p in result.points)


def test_series_result_of_a_study_without_votes_has_no_points(settings: Any) -> None:
    study = _study(_series(settings))
    result = series_result(study=study)
    assert result.points == [] and result.judgments == 0 and result.best is None
    assert len(result.loss) == 17
    with pytest.raises(ValueError, match="not over a checkpoint series"):
        series_result(study=ready_study(n_configs=2))


def test_series_chart_draws_points_intervals_and_the_loss_on_two_axes(settings: Any) -> None:
    series = _series(settings)
    study = _study(series)
    steps = dict(series.checkpoints.values_list("config_id", "step"))
    _simulate(study, {cid: s / 200 for cid, s in steps.items()}, raters=4, seed=1)
    result = series_result(study=study)
    svg = str(series_chart(result.points, result.loss, title="Run <A>"))
    assert svg.count('<circle class="ser-strength"') == 4
    assert svg.count('class="ser-strength" x1=') >= 4  # the interval bars
    loss_line = re.search(r'<polyline class="ser-loss" points="([^"]+)"', svg)
    assert loss_line is not None and len(loss_line.group(1).split()) == 17
    assert "training loss" in svg and "training step" in svg and "Run &lt;A&gt;" in svg
    assert "style=" not in svg and "#" not in re.sub(r"&#x?\w+;", "", svg)
    assert str(series_chart([], [], title="none")) == ""


@pytest.fixture
def client_r() -> Client:
    client = Client()
    client.force_login(researcher(username="rita"))
    return client


def test_series_study_pages_create_and_read_the_result(settings: Any, client_r: Client) -> None:
    series = _series(settings)
    prompt = PromptFactory()
    page = client_r.get(f"/series/{series.pk}/study/new/")
    assert page.status_code == 200 and b"run: which checkpoint?" in page.content
    refused = client_r.post(f"/series/{series.pk}/study/new/", {"name": "s", "prompts": [],
                            "seeds_per_prompt": 2, "target_judgments": 5})  # fmt: skip
    assert refused.status_code == 200 and not Study.objects.exists()
    made = client_r.post(f"/series/{series.pk}/study/new/", {"name": "s", "prompts": [prompt.pk],
                         "seeds_per_prompt": 1, "target_judgments": 5})  # fmt: skip
    study = Study.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/studies/{study.pk}/"
    assert study.series_id == series.pk and study.seeds_per_prompt == 1
    empty = client_r.get(f"/studies/{study.pk}/series/")
    assert empty.status_code == 200 and b'id="series-empty"' in empty.content
    study_launch(study=study)
    for image in Image.objects.all():
        paint_done(image)
    steps = dict(series.checkpoints.values_list("config_id", "step"))
    _simulate(study, {cid: s / 100 for cid, s in steps.items()}, raters=3, seed=2)
    shown = client_r.get(f"/studies/{study.pk}/series/?criterion=prompt_adherence")
    html = shown.content.decode()
    assert shown.status_code == 200 and '<svg class="series-chart"' in html
    assert html.count("<tr") == 5  # header + 4 checkpoints
    assert client_r.get(f"/studies/{study.pk}/series/?criterion=nope").status_code == 404
    exported = client_r.get(f"/studies/{study.pk}/series.csv?criterion=prompt_adherence")
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert exported["Content-Type"] == "text/csv; charset=utf-8" and rows[0][:5] == [
        "step", "config_id", "strength", "ci_low", "ci_high"]  # fmt: skip
    assert [int(r[0]) for r in rows[1:]] == list(STEPS)
    assert all(float(r[3]) <= float(r[2]) <= float(r[4]) and r[9] for r in rows[1:])
    other = ready_study(n_configs=2)
    assert client_r.get(f"/studies/{other.pk}/series/").status_code == 404


def test_series_study_api_creates_and_reports(settings: Any, client_r: Client) -> None:
    series = _series(settings)
    prompt = PromptFactory()
    bad = client_r.post(f"/api/series/{series.pk}/studies/", {"name": "s", "prompts": []},
                        content_type="application/json")  # fmt: skip
    assert bad.status_code == 400 and "prompts" in bad.json()
    made = client_r.post(f"/api/series/{series.pk}/studies/",
                         {"name": "s", "prompts": [prompt.pk], "seeds_per_prompt": 1},
                         content_type="application/json")  # fmt: skip
    assert made.status_code == 201 and made.json()["status"] == "draft"
    study = Study.objects.get(pk=made.json()["id"])
    assert made.json()["configs"] == sorted(study.configs.values_list("pk", flat=True))
    study_launch(study=study)
    for image in Image.objects.all():
        paint_done(image)
    steps = dict(series.checkpoints.values_list("config_id", "step"))
    _simulate(study, {cid: s / 100 for cid, s in steps.items()}, raters=3, seed=4)
    body = client_r.get(f"/api/studies/{study.pk}/series-result/?criterion=prompt_adherence").json()
    assert [p["step"] for p in body["points"]] == list(STEPS)
    assert body["series"] == series.pk and len(body["loss"]) == 17 and body["raters"] == 3
    assert all(p["ci_low"] <= p["strength"] <= p["ci_high"] for p in body["points"])
    as_csv = client_r.get(f"/api/studies/{study.pk}/series-result.csv")
    body_csv = b"".join(as_csv.streaming_content).decode()
    assert as_csv.status_code == 200 and body_csv.startswith("step,config_id,")
    other = ready_study(n_configs=2)
    assert client_r.get(f"/api/studies/{other.pk}/series-result/").status_code == 404
    assert client_r.get(f"/api/studies/{study.pk}/series-result/?criterion=x").status_code == 400
    schema = client_r.get("/api/schema/").content.decode()
    for route in ("/api/series/", "/api/series/{id}/grid/", "/api/series/{id}/render/",
                  "/api/series/{series_id}/studies/", "/api/studies/{study_id}/series-result/",
                  "/api/studies/{study_id}/series-result.csv"):  # fmt: skip
        assert route in schema, route


def test_series_csv_page_and_api_send_one_filename_uncached(
    settings: Any, client_r: Client
) -> None:
    """The page's download and the API's: the same file name (criterion included) and
    Cache-Control: no-store, like every other export."""
    series = _series(settings)
    study = _study(series, seeds=1)
    steps = dict(series.checkpoints.values_list("config_id", "step"))
    _simulate(study, {cid: s / 100 for cid, s in steps.items()}, raters=2, seed=6)
    stem = f"loupe-series-{study.pk}-run-study"
    for query, name in (("", f"{stem}.csv"),
                        ("?criterion=prompt_adherence", f"{stem}-prompt_adherence.csv")):  # fmt: skip
        for url in (
            f"/studies/{study.pk}/series.csv",
            f"/api/studies/{study.pk}/series-result.csv",
        ):
            response = client_r.get(url + query)
            assert response.status_code == 200, url
            assert response["Content-Disposition"] == f'attachment; filename="{name}"', url
            assert response["Cache-Control"] == "no-store", url
            assert b"".join(response.streaming_content).startswith(b"step,config_id,"), url
