"""Study pages: build, launch, progress (htmx polling), retry, open and close."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from evalsite.roles import RATERS
from generation.models import Image, WorkerHeartbeat
from ratings.models import Comparison, Study
from ratings.selectors import study_images
from ratings.services.studies import study_launch, study_update
from tests.factories import PromptFactory, make_config, make_study, rater, researcher

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def research_client(client: Client) -> Client:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    return client


def _study_form(**changes: object) -> dict[str, object]:
    prompts = [PromptFactory().pk for _ in range(2)]
    configs = [make_config(sampler=s).pk for s in ("euler_a", "ddim", "dpmpp_2m")]
    form: dict[str, object] = {
        "name": "Sampler shoot-out",
        "instructions": "Pick the **cleaner** image.\n\n<script>alert(1)</script>",
        "prompts": prompts,
        "configs": configs,
        "baseline": configs[0],
        "design": "all_pairs",
        "seeds_per_prompt": "2",
        "base_seed": "1234",
        "target_judgments": "5",
        "gold_rate": "0.05",
        "rater_groups": [Group.objects.get(name=RATERS).pk],
        "form-TOTAL_FORMS": "3",
        "form-INITIAL_FORMS": "2",
        "form-0-key": "prompt_adherence",
        "form-0-label": "Prompt adherence",
        "form-0-question": "Which image better matches the prompt?",
        "form-1-key": "modern_aesthetic",
        "form-1-label": "Modern aesthetic",
        "form-1-question": "Which looks more modern and clean?",
        "form-2-label": "Metal realism",
        "form-2-question": "Which metal looks more real?",
    }
    form.update(changes)
    return form


def test_study_pages_are_for_researchers_only(client: Client) -> None:
    study = make_study()
    rater(username="ray")
    client.login(username="ray", password="pw")
    for url in ["/studies/new/", f"/studies/{study.pk}/", f"/studies/{study.pk}/progress/"]:
        assert client.get(url).status_code == 403, url
    assert client.post(f"/studies/{study.pk}/launch/").status_code == 403
    assert client.get("/api/studies/").status_code == 403


def test_home_links_studies_to_their_pages(research_client: Client) -> None:
    study = make_study(name="Linked")
    page = research_client.get("/").content.decode()
    assert f'href="/studies/{study.pk}/"' in page and 'href="/studies/new/"' in page
    assert "/admin/ratings/study/add" not in page


def test_new_study_form_has_default_criteria(research_client: Client) -> None:
    page = research_client.get("/studies/new/").content.decode()
    assert "Which image better matches the prompt?" in page
    assert "Which looks more modern and clean?" in page


def test_study_create_with_criteria_raters_and_safe_markdown(research_client: Client) -> None:
    response = research_client.post("/studies/new/", _study_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    study = Study.objects.get()
    assert [c.key for c in study.criteria.all()] == [
        "prompt_adherence", "modern_aesthetic", "metal_realism",
    ]  # fmt: skip
    assert list(study.rater_groups.values_list("name", flat=True)) == [RATERS]
    assert study.seeds_per_prompt == 2 and study.configs.count() == 3
    page = research_client.get(f"/studies/{study.pk}/").content.decode()
    assert "<strong>cleaner</strong>" in page
    assert "<script>alert(1)</script>" not in page
    # 3 configs all pairs: 3 pairs per prompt × seed, × 2 prompts × 2 seeds
    assert '<td class="num">3</td><td class="num">12</td>' in page


def test_study_form_shows_model_messages(research_client: Client) -> None:
    response = research_client.post(
        "/studies/new/", _study_form(gold_rate="0.9", seeds_per_prompt="0")
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Gold rate must be between 0 and 0.5." in body
    assert "Seeds per prompt must be between 1 and 64." in body
    assert Study.objects.count() == 0


def test_study_that_cannot_launch_says_why(research_client: Client) -> None:
    study = make_study(n_configs=1)
    page = research_client.get(f"/studies/{study.pk}/").content.decode()
    assert "This study cannot launch yet" in page
    assert "The study needs at least two configurations to compare." in page
    response = research_client.post(f"/studies/{study.pk}/launch/", follow=True)
    assert b"at least two configurations" in response.content
    assert Comparison.objects.count() == 0
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_launch_creates_images_once_and_shows_progress(
    research_client: Client, django_capture_on_commit_callbacks: object
) -> None:
    study = make_study(n_configs=4, n_prompts=2, seeds_per_prompt=2)
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        response = research_client.post(f"/studies/{study.pk}/launch/")
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.pk}/progress/"
    assert len(callbacks) == 1  # rendering is queued after commit
    assert Comparison.objects.filter(study=study).count() == 6 * 4
    assert study_images(study_id=study.pk).count() == 4 * 4
    research_client.post(f"/studies/{study.pk}/launch/")
    assert Comparison.objects.filter(study=study).count() == 24
    page = research_client.get(f"/studies/{study.pk}/progress/").content.decode()
    assert "Rendering progress" in page and 'hx-trigger="every 2s"' in page
    fragment = research_client.get(f"/studies/{study.pk}/progress/", **HX)
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section id="progress"') and "<html" not in body
    assert '<strong class="big" id="percent">0 %</strong>' in body


def test_progress_polling_stops_when_rendering_is_done(research_client: Client) -> None:
    study = make_study(n_configs=2)
    study_launch(study=study)
    study_images(study_id=study.pk).update(status=Image.Status.DONE)
    fragment = research_client.get(f"/studies/{study.pk}/progress/", **HX)
    assert fragment.status_code == 286
    body = fragment.content.decode()
    assert "100 %" in body and "Every image is rendered." in body
    assert "hx-trigger" not in body.split(">", 1)[0]


def test_failed_images_show_reasons_and_retry(
    research_client: Client, django_capture_on_commit_callbacks: object
) -> None:
    study = make_study(n_configs=2)
    study_launch(study=study)
    images = study_images(study_id=study.pk)
    images.update(status=Image.Status.FAILED, attempts=3, error="Render failed: CUDA out of memory")
    page = research_client.get(f"/studies/{study.pk}/progress/").content.decode()
    assert "Failed images" in page and "CUDA out of memory" in page
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        fragment = research_client.post(f"/studies/{study.pk}/retry/", **HX)
    assert len(callbacks) == 1
    assert fragment.content.decode().lstrip().startswith('<section id="progress"')
    assert set(images.values_list("status", "attempts")) == {(Image.Status.PENDING, 0)}


def test_open_and_close_for_raters(research_client: Client) -> None:
    study = make_study(n_configs=2)
    response = research_client.post(f"/studies/{study.pk}/status/", {"open": "1"}, follow=True)
    assert b"Launch the study before opening it to raters." in response.content
    study_launch(study=study)
    research_client.post(f"/studies/{study.pk}/status/", {"open": "1"})
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN
    research_client.post(f"/studies/{study.pk}/status/", {"open": "0"})
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED


def test_launched_study_keeps_its_design_but_name_is_editable(research_client: Client) -> None:
    study = make_study(n_configs=2)
    study_launch(study=study)
    other = make_config(sampler="heun")
    with pytest.raises(Exception, match="has been launched"):
        study_update(study=study, configs=[*study.configs.all(), other])
    study_update(study=study, name="Renamed", instructions="Be quick.")
    study.refresh_from_db()
    assert study.name == "Renamed"
    page = research_client.get(f"/studies/{study.pk}/edit/").content.decode()
    assert "Fixed since launch." in page


@pytest.mark.django_db
def test_progress_page_shows_the_worker_panel(client: Client) -> None:
    researcher(username="wp")
    client.login(username="wp", password="pw")
    study = make_study()
    empty = client.get(f"/studies/{study.pk}/progress/")
    assert b"No render worker has reported" in empty.content
    WorkerHeartbeat.objects.create(
        node="gpu0@box", host="box", device="cuda:0 (NVIDIA H100)", models_loaded=["tiny-random"],
        images_rendered=42, images_per_second=7.5, last_seen=timezone.now(),
    )  # fmt: skip
    page = client.get(f"/studies/{study.pk}/progress/", HTTP_HX_REQUEST="true")
    body = page.content.decode()
    assert "gpu0@box" in body and "NVIDIA H100" in body and "7.50" in body and "tiny-random" in body


def test_launching_a_checklist_study_warns_of_no_gold_pairs_only_for_pairwise(
    research_client: Client,
) -> None:
    from ratings.checklists.items import schema_parse
    from ratings.checklists.services import checklist_study_create
    from tests.factories import CHECKLIST_SCHEMA_TEXT

    checklist = checklist_study_create(
        name="Checklist", prompts=[PromptFactory()], configs=[make_config()],
        fields=schema_parse(CHECKLIST_SCHEMA_TEXT),
    )  # fmt: skip
    pairwise = make_study(n_configs=2)  # distinct samplers only: no pair is obviously better
    for study, warned in ((checklist, False), (pairwise, True)):
        assert study.gold_rate > 0
        page = research_client.post(f"/studies/{study.pk}/launch/", follow=True)
        assert ("no pair is gold" in page.content.decode()) is warned, study.kind
        detail = research_client.get(f"/studies/{study.pk}/").content.decode()
        assert ('id="gold-missing"' in detail) is warned, study.kind


def test_study_form_instructions_follow_the_service_rule(research_client: Client) -> None:
    from generation.validation import FREE_TEXT_MAX_CHARS
    from ratings.services.studies import INSTRUCTIONS_TOO_LONG

    response = research_client.post(
        "/studies/new/", _study_form(instructions="x" * (FREE_TEXT_MAX_CHARS + 1))
    )
    assert response.status_code == 200
    assert INSTRUCTIONS_TOO_LONG in response.content.decode()
    assert Study.objects.count() == 0
    fits = "  " + "x" * FREE_TEXT_MAX_CHARS + "\n"
    assert research_client.post("/studies/new/", _study_form(instructions=fits)).status_code == 302
    assert Study.objects.get().instructions == "x" * FREE_TEXT_MAX_CHARS
