"""Best-of-N pages: create with field errors, launch, progress polling (286), open, result,
export; pairwise pages send rerank studies to their own."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client

from generation.models import Image, ImageScore
from ratings.models import Comparison, Study
from ratings.rerank import services as rerank_services
from ratings.rerank.services import rerank_study_create
from ratings.selectors import study_images
from ratings.services.studies import study_launch, study_open
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
def client_r(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Client:
    settings.LOUPE_SCORERS = {"clip": "/models/clip"}
    monkeypatch.setattr(rerank_services, "_enqueue", lambda unscored: None)
    client = Client()
    client.force_login(researcher(username="rita"))
    return client


def _study(n: int = 4, prompts: int = 2, tournament: int = 0) -> Study:
    return rerank_study_create(
        name="Best of four",
        config=make_config(sampler="euler_a"),
        prompts=[PromptFactory.create() for _ in range(prompts)],
        candidates=n,
        scorers=["clip"],
        tournament_size=tournament,
    )


def _finish(study: Study) -> None:
    for image in study_images(study_id=study.pk):
        paint_done(image)
        ImageScore.objects.create(image=image, metric="clip", value=image.seed, model_path="-")


def test_new_page_creates_a_study(client_r: Client) -> None:
    config = make_config(sampler="ddim")
    prompt = PromptFactory.create()
    page = client_r.get("/studies/rerank/new/")
    assert page.status_code == 200 and b"New best-of-N study" in page.content
    response = client_r.post(
        "/studies/rerank/new/",
        {
            "name": "Best of 8", "config": config.pk, "prompts": [prompt.pk], "candidates": 8,
            "base_seed": 10, "scorers": ["clip"], "tournament_size": 4, "target_judgments": 3,
            "form-TOTAL_FORMS": 1, "form-INITIAL_FORMS": 0, "form-0-label": "Prompt adherence",
            "form-0-question": "Which matches the prompt?",
        },
    )  # fmt: skip
    study = Study.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.pk}/rerank/"
    assert (study.kind, study.seeds_per_prompt, study.base_seed) == ("rerank", 8, 10)
    assert study.rerank.scorers == ["clip"] and study.rerank.tournament_size == 4


def test_new_page_names_the_field_and_saves_nothing(client_r: Client) -> None:
    config = make_config(sampler="ddim")
    prompt = PromptFactory.create()
    response = client_r.post(
        "/studies/rerank/new/",
        {
            "name": "Too many", "config": config.pk, "prompts": [prompt.pk], "candidates": 65,
            "base_seed": 10, "scorers": ["clip"], "tournament_size": 2, "target_judgments": 3,
            "form-TOTAL_FORMS": 1, "form-INITIAL_FORMS": 0, "form-0-label": "Adherence",
            "form-0-question": "Which?",
        },
    )  # fmt: skip
    assert response.status_code == 200
    form = response.context["form"]
    assert "between 2 and 64" in form.errors["candidates"][0]
    assert "between 3 and 8" in form.errors["tournament_size"][0]
    assert not Study.objects.exists()


def test_detail_polls_until_ready_then_stops_with_286(client_r: Client) -> None:
    study = _study()
    assert client_r.get(f"/studies/{study.pk}/")["Location"] == f"/studies/{study.pk}/rerank/"
    client_r.post(f"/studies/{study.pk}/rerank/launch/")
    page = client_r.get(f"/studies/{study.pk}/rerank/")
    assert b"0 / 8" in page.content and b'hx-trigger="every 2s"' in page.content
    fragment = client_r.get(f"/studies/{study.pk}/rerank/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    opened = client_r.post(
        f"/studies/{study.pk}/status/", {"open": "1", "next": "detail"}, follow=True
    )
    assert b"0 of 8 candidates are rendered" in opened.content
    _finish(study)
    done = client_r.get(f"/studies/{study.pk}/rerank/", headers={"HX-Request": "true"})
    assert done.status_code == 286 and b'id="ready"' in done.content
    client_r.post(f"/studies/{study.pk}/status/", {"open": "1", "next": "detail"})
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    assert Comparison.objects.filter(study=study).count() == 2


def test_result_page_and_exports(client_r: Client) -> None:
    study = _study(n=4, prompts=2, tournament=3)
    study_launch(study=study)
    _finish(study)
    study_open(study=study)
    criterion = study.criteria.get(key="prompt_adherence")
    seeds = dict(Image.objects.values_list("pk", "seed"))
    person = rater(username="ann")
    for comparison in Comparison.objects.filter(study=study):
        high = "a" if seeds[comparison.image_a_id] > seeds[comparison.image_b_id] else "b"
        vote(comparison, person, criterion, high)
    page = client_r.get(f"/studies/{study.pk}/rerank/result/")
    text = page.content.decode()
    assert page.status_code == 200
    assert 'Reranking with <code>clip</code> wins <strong class="win-rate">100 %</strong>' in text
    assert "the favourite in 2 of 2 prompts" in text
    cards = page.context["cards"]
    assert len(cards) == 2
    assert all(c.pick_votes == 1 and c.other_votes == 0 and c.pick_url for c in cards)
    assert all(c.pick_score is not None and c.pick_score > c.other_score for c in cards)  # type: ignore[operator]
    rows = list(csv.DictReader(io.StringIO(_body(client_r, study, "csv"))))
    picks = [r for r in rows if r["role"] == "pick"]
    assert len(picks) == 2 and {r["scorer"] for r in picks} == {"clip"}
    assert {r["pick_credit"] for r in picks} == {"1.0"}
    assert {r["role"] for r in rows} == {"pick", "tournament"}
    lines = [json.loads(x) for x in _body(client_r, study, "jsonl").splitlines()]
    assert len(lines) == len(rows) and lines[0]["study_id"] == study.pk
    assert client_r.get(f"/studies/{study.pk}/rerank/judgments.xml").status_code == 404


def _body(client: Client, study: Study, fmt: str) -> str:
    response = client.get(f"/studies/{study.pk}/rerank/judgments.{fmt}")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]


def test_rerank_pages_refuse_raters_and_pairwise_studies(client_r: Client) -> None:
    study = _study()
    other = Client()
    other.force_login(rater(username="rob"))
    assert other.get(f"/studies/{study.pk}/rerank/").status_code == 403
    pairwise = ready_study(n_configs=2)
    assert client_r.get(f"/studies/{pairwise.pk}/rerank/").status_code == 404


def test_pairwise_analysis_and_report_send_a_best_of_n_study_to_its_result(
    client_r: Client,
) -> None:
    study = rerank_ready_study(votes_by=1)
    result = f"/studies/{study.pk}/rerank/result/"
    assert client_r.get(f"/studies/{study.pk}/analysis/")["Location"] == result
    assert client_r.get(f"/studies/{study.pk}/report/")["Location"] == result
    assert client_r.get(f"/studies/{study.pk}/edit/")["Location"] == f"/studies/{study.pk}/rerank/"
    assert client_r.get(result).status_code == 200
