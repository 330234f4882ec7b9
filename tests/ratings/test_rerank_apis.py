"""The best-of-N API: create (400 with field messages), launch and open through the studies
API (open waits for scoring), result and exports; the routes are in the OpenAPI schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from generation.models import Image, ImageScore
from ratings.models import Comparison, Study
from ratings.rerank import services as rerank_services
from ratings.selectors import study_images
from tests.factories import (
    PromptFactory,
    make_config,
    paint_done,
    rater,
    ready_study,
    rerank_ready_study,
    researcher,
    vote,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Client:
    settings.LOUPE_SCORERS = {"aesthetic": "/models/aesthetic"}
    monkeypatch.setattr(rerank_services, "_enqueue", lambda unscored: None)
    client = Client()
    client.force_login(researcher(username="rita"))
    return client


def _create(api: Client, **overrides: Any) -> Any:
    body = {
        "name": "API best of 4",
        "config": make_config(sampler="euler_a").pk,
        "prompts": [PromptFactory.create().pk, PromptFactory.create().pk],
        "candidates": 4,
        "scorers": ["aesthetic"],
        **overrides,
    }
    return api.post("/api/rerank-studies/", json.dumps(body), content_type="application/json")


def test_create_rejects_bad_fields_with_messages(api: Client) -> None:
    response = _create(api, candidates=1, scorers=["clip"], tournament_size=9)
    assert response.status_code == 400
    body = response.json()
    assert "between 2 and 64" in body["candidates"][0]
    assert "Unknown scorer clip" in body["scorers"][0]
    assert "tournament size" in body["tournament_size"][0]
    assert not Study.objects.exists()


def test_lifecycle_through_the_api(api: Client) -> None:
    created = _create(api, tournament_size=3)
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["progress"]["total"] == 0
    launched = api.post(f"/api/studies/{pk}/launch/")
    assert launched.status_code == 200 and launched.json()["images_created"] == 8
    waiting = api.post(f"/api/studies/{pk}/open/")
    assert waiting.status_code == 400
    assert "0 of 8 candidates are rendered" in waiting.json()["detail"][0]
    for image in study_images(study_id=pk):
        paint_done(image)
        ImageScore.objects.create(image=image, metric="aesthetic", value=image.seed, model_path="")
    detail = api.get(f"/api/rerank-studies/{pk}/").json()
    assert detail["progress"]["ready"] and detail["progress"]["scorers"][0]["scored"] == 8
    assert api.post(f"/api/studies/{pk}/open/").json()["status"] == "open"
    study = Study.objects.get(pk=pk)
    criterion = study.criteria.get(key="modern_aesthetic")
    seeds = dict(Image.objects.values_list("pk", "seed"))
    person = rater(username="ann")
    for comparison in Comparison.objects.filter(study=study):
        low = "a" if seeds[comparison.image_a_id] < seeds[comparison.image_b_id] else "b"
        vote(comparison, person, criterion, low)
    result = api.get(f"/api/rerank-studies/{pk}/result/").json()
    by_key = {c["criterion"]: c for c in result["criteria"]}
    row = by_key["modern_aesthetic"]["scorers"][0]
    assert row["scorer"] == "aesthetic" and row["win"]["win_rate"] == 0.0
    assert row["win"]["verdict"] == "worse" or row["win"]["ci_high"] >= 0.5
    assert row["favourite"]["prompts"] == 2 and row["favourite"]["hits"] == 0
    assert by_key["prompt_adherence"]["scorers"][0]["win"]["win_rate"] is None
    exported = api.get(f"/api/rerank-studies/{pk}/judgments.csv")
    csv_text = b"".join(exported.streaming_content)  # type: ignore[attr-defined]
    assert csv_text.decode().splitlines()[0].startswith("judgment_id,study_id,comparison_id,role")
    jsonl = api.get(f"/api/rerank-studies/{pk}/judgments.jsonl")
    assert jsonl["Content-Type"].startswith("application/x-ndjson")
    assert api.get(f"/api/rerank-studies/{pk}/").status_code == 200
    assert [s["id"] for s in api.get("/api/rerank-studies/").json()] == [pk]


def test_rerank_routes_are_404_for_other_studies_and_in_the_schema(api: Client) -> None:
    pairwise = ready_study(n_configs=2)
    assert api.get(f"/api/rerank-studies/{pairwise.pk}/result/").status_code == 404
    schema = api.get("/api/schema/").content.decode()
    for path in ["/api/rerank-studies/", "/api/rerank-studies/{id}/result/",
                 "/api/rerank-studies/{id}/judgments.csv"]:  # fmt: skip
        assert path in schema, path


def test_the_list_reads_every_study_s_progress_together(
    api: Client,
) -> None:
    """The list's queries do not grow with the number of studies, and each study's progress
    is what its own detail route says."""
    first = rerank_ready_study(name="Best of six A", candidates=3)
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/rerank-studies/").json()) == 1
    second = rerank_ready_study(name="Best of six B", candidates=4, scorers=("checklist:sharp",))
    with CaptureQueriesContext(connection) as two:
        listed = {s["id"]: s for s in api.get("/api/rerank-studies/").json()}
    assert len(two) == len(one)
    for study, candidates in ((first, 3), (second, 4)):
        progress = listed[study.pk]["progress"]
        assert progress == api.get(f"/api/rerank-studies/{study.pk}/").json()["progress"]
        assert (progress["total"], progress["rendered"], progress["built"]) == (
            2 * candidates,
            2 * candidates,
            True,
        )
        assert progress["comparisons"] == Comparison.objects.filter(study=study).count() > 0
        assert [s["scored"] for s in progress["scorers"]] == [2 * candidates] * len(
            study.rerank.scorers
        )
