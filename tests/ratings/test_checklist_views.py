"""Checklist pages: create with field errors, the htmx card, results, exports, labeller run."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from generation.models import GenerationConfig, Image
from ratings.checklists.models import ChecklistAnswer, ChecklistField, ChecklistShowing
from ratings.models import Study
from tests.factories import PromptFactory, make_config, rater, ready_checklist_study, researcher

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _showing(html: str) -> int:
    match = re.search(r'data-showing="(\d+)"', html)
    assert match, html
    return int(match.group(1))


def _items(html: str) -> list[str]:
    return sorted(set(re.findall(r'name="a:([^"]+)"', html)))


def test_new_checklist_study_form_names_the_bad_field_and_saves_nothing(client: Client) -> None:
    client.force_login(researcher())
    prompt = PromptFactory(material="platinum")
    config = make_config(sampler="euler_a")
    assert client.get("/studies/checklist/new/").status_code == 200
    post = {
        "name": "Rings checklist", "prompts": [prompt.pk], "configs": [config.pk],
        "seeds_per_prompt": 1, "base_seed": 7, "target_judgments": 3,
        "schema": "Metal (metal): gold, silver",
    }  # fmt: skip
    page = client.post("/studies/checklist/new/", post)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Line 1" in html and "is not a prompt attribute" in html
    assert not Study.objects.filter(name="Rings checklist").exists()
    post["schema"] = "Metal (material): yellow gold, platinum"
    done = client.post("/studies/checklist/new/", post)
    study = Study.objects.get(name="Rings checklist")
    assert done.status_code == 302 and done["Location"] == f"/studies/{study.pk}/"
    assert study.kind == Study.Kind.CHECKLIST
    assert list(ChecklistField.objects.filter(study=study).values_list("attribute", "allowed")) == [
        ("material", ["yellow gold", "platinum"])
    ]
    detail = client.get(f"/studies/{study.pk}/").content.decode()
    assert "checklist-schema" in detail and "yellow gold, platinum" in detail


def test_rater_answers_with_htmx_card_and_gets_the_next_image(client: Client) -> None:
    study = ready_checklist_study(n_configs=2, n_prompts=1)
    person = rater()
    client.force_login(person)
    page = client.get(f"/rate/checklist/{study.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="checklist-card"' in html and "<html" in html
    assert "Does the image show channel-set?" in html and "Metal: platinum?" in html
    assert 'class="prefetch"' in html  # the next image loads behind this one
    showing = _showing(html)
    items = _items(html)
    assert items == ["field:background", "field:material", "term:channel-set", "term:diamond band"]
    url = f"/rate/checklist/{study.pk}/answer/"
    short = client.post(url, {"showing": showing, f"a:{items[0]}": "yes"}, **HX)
    fragment = short.content.decode()
    assert short.status_code == 200 and "<html" not in fragment
    assert "Answer every item" in fragment and _showing(fragment) == showing
    assert not ChecklistAnswer.objects.exists()
    full = client.post(url, {"showing": showing, **{f"a:{k}": "no" for k in items}}, **HX)
    fragment = full.content.decode()
    assert "Answers recorded." in fragment and _showing(fragment) != showing
    assert ChecklistAnswer.objects.filter(rater=person, answer="no").count() == 4
    # Blind: nothing names a configuration.
    for config in GenerationConfig.objects.filter(studies=study):
        assert config.name not in fragment and config.fingerprint not in fragment
    for image in Image.objects.filter(config__studies=study):
        assert image.file.name not in fragment


def test_a_showing_of_someone_else_is_the_unavailable_page(client: Client) -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    owner = rater()
    client.force_login(owner)
    showing = _showing(client.get(f"/rate/checklist/{study.pk}/").content.decode())
    client.force_login(rater())
    answer = client.post(f"/rate/checklist/{study.pk}/answer/", {"showing": showing}, **HX)
    assert answer.status_code == 404 and answer["HX-Redirect"].startswith(
        f"/rate/checklist/{study.pk}/"
    )


def test_closed_off_and_pairwise_studies_are_unavailable_on_the_checklist_page(
    client: Client,
) -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    study.rater_groups.clear()
    client.force_login(rater())
    assert client.get(f"/rate/checklist/{study.pk}/").status_code == 404
    assert ChecklistShowing.objects.count() == 0


def test_results_page_and_exports_for_researchers_only(client: Client) -> None:
    study = ready_checklist_study(n_configs=2, n_prompts=1)
    person = rater(username="alice")
    client.force_login(person)
    for _ in range(2):
        html = client.get(f"/rate/checklist/{study.pk}/").content.decode()
        answers = {f"a:{k}": "yes" for k in _items(html)}
        client.post(f"/rate/checklist/{study.pk}/answer/", {"showing": _showing(html), **answers})
    assert client.get(f"/studies/{study.pk}/checklist/").status_code == 403
    assert client.get(f"/studies/{study.pk}/checklist/answers.csv").status_code == 403
    client.force_login(researcher())
    page = client.get(f"/studies/{study.pk}/checklist/").content.decode()
    assert "Checklist results" in page and "8 answers from 1 rater on 2 of 2 images" in page
    assert "100 %" in page and "No automatic labeller" in page
    body = b"".join(client.get(f"/studies/{study.pk}/checklist/answers.csv").streaming_content)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 8 and {r["answer"] for r in rows} == {"yes"}
    assert all(r["source"].startswith("r-") for r in rows) and "alice" not in body.decode()
    lines = b"".join(
        client.get(f"/studies/{study.pk}/checklist/answers.jsonl").streaming_content
    ).splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["item"] in {r["item"] for r in rows}
    # The researchers' home lists it as a checklist: its answers, no pairs.
    row = re.search(
        rf'<tr>\s*<td><a href="/studies/{study.pk}/">.*?</tr>',
        client.get("/").content.decode(),
        re.S,
    )
    assert row and "Key-term checklist" in row[0] and "8 <small" in row[0] and "—" in row[0]


def test_labeller_run_refuses_an_unconfigured_name(client: Client, settings: Any) -> None:
    settings.LOUPE_SCORERS = {}
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    client.force_login(researcher())
    response = client.post(
        f"/studies/{study.pk}/checklist/label/", {"labeller": "clip"}, follow=True
    )
    assert "is not a CLIP scorer of LOUPE_SCORERS" in response.content.decode()


def test_answers_past_the_rate_limit_come_back_with_the_same_image(
    client: Client, settings: Any
) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 1
    study = ready_checklist_study(n_configs=2, n_prompts=1)
    client.force_login(rater())
    url = f"/rate/checklist/{study.pk}/answer/"
    html = client.get(f"/rate/checklist/{study.pk}/").content.decode()
    client.post(url, {"showing": _showing(html), **{f"a:{k}": "yes" for k in _items(html)}}, **HX)
    html = client.get(f"/rate/checklist/{study.pk}/").content.decode()
    showing = _showing(html)
    response = client.post(
        url, {"showing": showing, **{f"a:{k}": "no" for k in _items(html)}}, **HX
    )
    assert response.status_code == 429 and response["Retry-After"]
    assert _showing(response.content.decode()) == showing
    assert not ChecklistAnswer.objects.filter(answer="no").exists()


def test_a_pairwise_study_is_not_on_the_checklist_page_and_its_results_redirect(
    client: Client,
) -> None:
    from tests.factories import ready_study

    pairwise = ready_study(n_configs=2)
    client.force_login(rater())
    assert client.get(f"/rate/checklist/{pairwise.pk}/").status_code == 404
    checklist = ready_checklist_study(n_configs=1, n_prompts=1)
    client.force_login(researcher())
    assert client.get(f"/studies/{pairwise.pk}/checklist/").status_code == 404
    analysis = client.get(f"/studies/{checklist.pk}/analysis/")
    assert analysis.status_code == 302
    assert analysis["Location"] == f"/studies/{checklist.pk}/checklist/"


def test_a_rater_sees_the_images_of_a_checklist_open_to_them_only(client: Client) -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    image = Image.objects.get(config__studies=study)
    client.force_login(rater())
    assert client.get(f"/media/{image.display_file.name}").status_code == 200
    assert client.get(f"/media/{image.file.name}").status_code == 404  # masters: never
    study.rater_groups.clear()
    assert client.get(f"/media/{image.display_file.name}").status_code == 404


# An answer with htmx that answers with the next image, counted as the test client sees it
# (the view's transaction is a savepoint inside the test's, so it counts 2 more than in
# production), as tests/ratings/test_rate_perf.py counts a pairwise vote:
#   session, user                                          2  (as any signed-in page)
#   study + criteria + access check                        1
#   savepoint (the view's transaction, joined by the answer) 1
#   showing locked, with its prompt and the schema         1
#   answers (ON CONFLICT, no savepoint); answered_at       2  (1 on PostgreSQL: one statement)
#   the rater's showings; the ready images and their counts 2
#   new showing (no savepoint: ON CONFLICT)                1
#   both cards (prompt, images)                            1
#   release                                                1
# Exact per database: 12 on SQLite, 11 on PostgreSQL (the pairwise vote: 13 and 11).
ANSWER_AND_NEXT_QUERIES = {"sqlite": 12, "postgresql": 11}


def test_an_answer_and_the_next_card_take_a_fixed_number_of_queries(
    client: Client, django_assert_num_queries: Any
) -> None:
    from django.db import connection

    from ratings.checklists.services import checklist_answers_record, checklist_deal

    study = ready_checklist_study(n_configs=4, n_prompts=3)
    client.force_login(rater())
    html = client.get(f"/rate/checklist/{study.pk}/").content.decode()

    def answer() -> str:
        body = {"showing": _showing(html), **{f"a:{k}": "yes" for k in _items(html)}}
        page = client.post(f"/rate/checklist/{study.pk}/answer/", body, **HX).content.decode()
        assert "Answers recorded." in page
        return page

    # The first answer on a connection also PREPAREs its statements on PostgreSQL.
    html = answer()
    for _ in range(3):  # the same count however many answers came before
        with django_assert_num_queries(ANSWER_AND_NEXT_QUERIES[connection.vendor]):
            html = answer()
    # Others' answers do not add queries: "fewest first" reads one count per image.
    for person in [rater() for _ in range(6)]:
        for _ in range(3):
            card = checklist_deal(rater=person, study=study).current
            assert card is not None
            checklist_answers_record(
                rater=person,
                study=study,
                showing_id=card.pk,
                answers={i.key: "no" for i in card.items},
            )
    for _ in range(3):
        with django_assert_num_queries(ANSWER_AND_NEXT_QUERIES[connection.vendor]):
            html = answer()


def test_rate_home_shows_checklist_progress_and_the_pair_page_sends_to_the_checklist(
    client: Client,
) -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=2, name="Bands checklist")
    client.force_login(rater())
    home = client.get("/rate/").content.decode()
    assert "Bands checklist" in home and "0 of 2 images answered" in home
    assert f'href="/rate/checklist/{study.pk}/"' in home and "Open checklist" in home
    html = client.get(f"/rate/checklist/{study.pk}/").content.decode()
    client.post(
        f"/rate/checklist/{study.pk}/answer/",
        {"showing": _showing(html), **{f"a:{k}": "yes" for k in _items(html)}},
    )
    home = client.get("/rate/").content.decode()
    assert "1 of 2 images answered" in home and "Continue checklist" in home
    pair_page = client.get(f"/rate/{study.pk}/")
    assert pair_page.status_code == 302
    assert pair_page["Location"] == f"/rate/checklist/{study.pk}/"


def test_results_page_without_answers_says_where_they_come_from(client: Client) -> None:
    study = ready_checklist_study(n_configs=2, n_prompts=1)
    client.force_login(researcher())
    page = client.get(f"/studies/{study.pk}/checklist/").content.decode()
    assert "No answers yet" in page and f'href="/rate/checklist/{study.pk}/"' in page
    assert page.count('<span class="empty-cell">—</span>') >= 2 * 5  # configs × (items + all)


def test_edit_keeps_what_is_fixed_and_names_the_schema_once_answered(client: Client) -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)  # launched (open): images fixed
    client.force_login(researcher())
    assert client.get(f"/studies/{study.pk}/edit/")["Location"] == (
        f"/studies/{study.pk}/checklist/edit/"
    )
    page = client.get(f"/studies/{study.pk}/checklist/edit/").content.decode()
    assert "Metal (material): yellow gold, white gold, platinum" in page
    assert "Fixed since launch." in page
    post = {
        "name": "Renamed checklist", "instructions": "Look closely.", "seeds_per_prompt": 1,
        "base_seed": study.base_seed, "target_judgments": 4, "rater_groups": [],
        "schema": "Metal (material): yellow gold, platinum",
    }  # fmt: skip
    saved = client.post(f"/studies/{study.pk}/checklist/edit/", post)
    assert saved.status_code == 302
    study.refresh_from_db()
    assert (study.name, study.target_judgments) == ("Renamed checklist", 4)
    assert list(study.checklist_fields.values_list("allowed", flat=True)) == [
        ["yellow gold", "platinum"]
    ]
    study.rater_groups.add(*Group.objects.filter(name="raters"))  # the post cleared them
    client.force_login(rater())
    html = client.get(f"/rate/checklist/{study.pk}/").content.decode()
    client.post(
        f"/rate/checklist/{study.pk}/answer/",
        {"showing": _showing(html), **{f"a:{k}": "yes" for k in _items(html)}},
    )
    client.force_login(researcher())
    post["schema"] = "Metal (material): gold, silver"
    refused = client.post(f"/studies/{study.pk}/checklist/edit/", post).content.decode()
    assert "its schema is fixed" in refused
    assert list(study.checklist_fields.values_list("allowed", flat=True)) == [
        ["yellow gold", "platinum"]
    ]


def test_checklist_page_waits_for_rendering_and_polls(client: Client) -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    Image.objects.filter(config__studies=study).update(status=Image.Status.RENDERING)
    client.force_login(rater())
    page = client.get(f"/rate/checklist/{study.pk}/").content.decode()
    assert "The images are still being prepared" in page
    assert 'hx-trigger="every 10s"' in page and "data-showing" not in page
