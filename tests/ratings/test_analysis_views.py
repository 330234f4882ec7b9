"""Dashboard page, htmx fragments, rater exclusion and the analysis API."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token

from ratings.models import Study
from tests.factories import by_configs, launched, rater, researcher, vote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Reports are cached by study id and vote counts; rolled-back tests can reuse both.
    cache.clear()


@pytest.fixture
def voted() -> Study:
    """Three samplers; Euler a beats DDIM 5 times out of 8 on prompt adherence."""
    study, comps, crit = launched(n_configs=3)
    configs = sorted(study.configs.values_list("id", flat=True))
    comp = by_configs(comps, configs[0], configs[1])
    euler_is_a = comp.image_a.config_id == configs[0]
    for i in range(8):
        user = rater(username=f"r{i}")
        vote(comp, user, crit, "a" if (i < 5) == euler_is_a else "b", left="a" if i % 2 else "b")
        vote(by_configs(comps, configs[0], configs[2]), user, crit, "tie")
    return study


def login(client: Client) -> None:
    researcher(username="rita")
    assert client.login(username="rita", password="pw")


def test_dashboard_shows_every_section_for_researchers(client: Client, voted: Study) -> None:
    login(client)
    page = client.get(f"/studies/{voted.pk}/analysis/?criterion=prompt_adherence")
    assert page.status_code == 200
    html = page.content.decode()
    for heading in ("Win rate per setting", "Leaderboard", "Factor effects", "Raters", "Pairs"):
        assert heading in html
    assert "Euler Ancestral" in html and "14–69%" in html  # DDIM won 3 of 8: Wilson 13.7–69.4 %
    assert html.count('<svg class="forest"') == 2 and '<svg class="ibar"' in html
    assert f"/api/studies/{voted.pk}/judgments.csv?criterion=prompt_adherence" in html
    assert 'aria-current="page">Prompt adherence' in html
    # Eight raters: the leaderboard says its intervals are about these raters' votes only.
    assert (
        "About these raters&#x27; votes only" in html
        and "8 raters voted, and the leaderboard&#x27;s intervals speak for raters in general from 10"
        in html
    )


def test_dashboard_refuses_raters_and_anonymous(client: Client, voted: Study) -> None:
    assert client.get(f"/studies/{voted.pk}/analysis/").status_code == 302
    rater(username="ray")
    client.login(username="ray", password="pw")
    assert client.get(f"/studies/{voted.pk}/analysis/").status_code == 403
    assert client.get(f"/api/studies/{voted.pk}/win-rates/").status_code == 403
    assert client.get(f"/api/studies/{voted.pk}/judgments.csv").status_code == 403


def test_dashboard_for_a_study_without_votes(client: Client) -> None:
    study, _, _ = launched(n_configs=2)
    login(client)
    page = client.get(f"/studies/{study.pk}/analysis/")
    assert page.status_code == 200 and b"No votes to analyse yet" in page.content


def test_pair_browser_fragment_filters_by_outcome(client: Client, voted: Study) -> None:
    login(client)
    url = f"/studies/{voted.pk}/analysis/?outcome=tie"
    fragment = client.get(url, headers={"HX-Request": "true", "HX-Target": "pairs"})
    html = fragment.content.decode()
    assert fragment.status_code == 200
    assert html.lstrip().startswith('<section class="an-section" id="pairs">')
    assert "<html" not in html and "1 judged comparison" in html


def test_excluding_a_rater_recomputes_the_dashboard(client: Client, voted: Study) -> None:
    login(client)
    r0 = voted.comparisons.first().judgments.get(rater__username="r0").rater
    url = f"/studies/{voted.pk}/analysis/raters/{r0.pk}/"
    response = client.post(
        url, {"action": "exclude", "criterion": "prompt_adherence"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="dashboard"')
    assert "r0 is left out of every figure" in html and "excluded" in html
    assert voted.excluded_raters.filter(pk=r0.pk).exists()
    api = client.get(f"/api/studies/{voted.pk}/win-rates/?criterion=prompt_adherence").json()
    euler = next(r for r in api["rows"] if r["level"] == "euler_a")
    assert euler["votes"] == 14  # 16 votes less r0's two
    back = client.post(url, {"action": "restore"})
    assert back.status_code == 302 and back["Location"].endswith("#raters")
    assert not voted.excluded_raters.exists()
    assert client.post(url, {"action": "nope"}).status_code == 400


def test_api_win_rates_numbers_match_the_page(client: Client, voted: Study) -> None:
    login(client)
    data = client.get(f"/api/studies/{voted.pk}/win-rates/?criterion=prompt_adherence").json()
    rows = {(r["factor"], r["level"]): r for r in data["rows"]}
    euler_vs_ddim = rows[("sampler", "ddim")]
    assert euler_vs_ddim["wins"] == 3 and euler_vs_ddim["losses"] == 5
    euler = rows[("sampler", "euler_a")]
    assert euler["wins"] == 5 and euler["ties"] == 8 and euler["votes"] == 16
    assert euler["win_rate"] == pytest.approx(9 / 16)
    assert data["criterion"] == "prompt_adherence" and data["judgments"] == 16


def test_api_leaderboard_factor_effects_and_raters(client: Client, voted: Study) -> None:
    login(client)
    board = client.get(f"/api/studies/{voted.pk}/leaderboard/").json()
    assert len(board["rows"]) == 3 and board["raters"] == 8 and board["n_boot"] == 4000
    assert board["estimand"] == "these_raters" and board["df"] is None
    assert "these raters' votes" in board["estimand_note"]
    assert all(r["se"] > 0 and r["ci_low"] < r["ci_high"] for r in board["rows"])
    assert sum(r["p_best"] for r in board["rows"]) == pytest.approx(1.0)
    effects = client.get(f"/api/studies/{voted.pk}/factor-effects/").json()
    assert {r["level"] for r in effects["rows"]} == {"ddim", "dpmpp_2m"}
    assert effects["position_bias"] is not None
    raters = client.get(f"/api/studies/{voted.pk}/raters/").json()
    assert len(raters["rows"]) == 8 and {a["criterion"] for a in raters["alpha"]} == {
        "prompt_adherence",
        "modern_aesthetic",
    }


def test_api_rejects_an_unknown_criterion_with_a_field_message(
    client: Client, voted: Study
) -> None:
    login(client)
    response = client.get(f"/api/studies/{voted.pk}/leaderboard/?criterion=sparkle")
    assert response.status_code == 400
    assert "Unknown criterion 'sparkle'" in response.json()["criterion"][0]
    assert client.get("/api/studies/999999/win-rates/").status_code == 404


def test_api_exports_stream_csv_and_jsonl(client: Client, voted: Study) -> None:
    login(client)
    response = client.get(f"/api/studies/{voted.pk}/judgments.csv?criterion=prompt_adherence")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "judgments-prompt_adherence.csv" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert len(list(csv.DictReader(io.StringIO(body)))) == 16
    lines = b"".join(client.get(f"/api/studies/{voted.pk}/judgments.jsonl").streaming_content)
    records = [json.loads(line) for line in lines.decode().splitlines()]
    assert len(records) == 16 and records[0]["study_id"] == voted.pk


def test_api_works_with_a_token_and_excludes_through_the_api(client: Client, voted: Study) -> None:
    token = Token.objects.create(user=researcher(username="bot"))
    auth = {"Authorization": f"Token {token.key}"}
    assert client.get(f"/api/studies/{voted.pk}/win-rates/", headers=auth).status_code == 200
    r1 = voted.comparisons.first().judgments.get(rater__username="r1").rater
    url = f"/api/studies/{voted.pk}/raters/{r1.pk}/exclusion/"
    assert client.post(url, headers=auth).json() == {"excluded": True, "changed": True}
    assert client.post(url, headers=auth).json() == {"excluded": True, "changed": False}
    assert client.delete(url, headers=auth).json() == {"excluded": False, "changed": True}
    nobody = researcher(username="idle")
    response = client.post(f"/api/studies/{voted.pk}/raters/{nobody.pk}/exclusion/", headers=auth)
    assert response.status_code == 400 and "nothing to exclude" in response.json()["rater"][0]


def test_openapi_schema_lists_the_analysis_endpoints(client: Client) -> None:
    login(client)
    schema = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for tail in (
        "win-rates/",
        "leaderboard/",
        "factor-effects/",
        "raters/",
        "judgments.csv",
        "judgments.jsonl",
    ):
        assert f"/api/studies/{{study_id}}/{tail}" in paths
    params = paths["/api/studies/{study_id}/leaderboard/"]["get"]["parameters"]
    assert any(p["name"] == "criterion" for p in params)
