"""The decision report: selector, page, self-contained download and API."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils.html import escape

from ratings.models import Comparison, Study
from ratings.reports import decision as decision_module
from ratings.reports import study_pair_tallies
from ratings.reports.decision import NO_CLEAR_WINNER, study_decision
from ratings.reports.stopping import study_stopping
from ratings.services.gold import comparison_gold_set
from ratings.views.report import STANDALONE_CSP
from tests.factories import decided_study, launched, rater, ready_study, researcher, vote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Reports are cached by study id and vote counts; rolled-back tests can reuse both.
    cache.clear()


def _config_ids(study: Study) -> list[int]:
    return sorted(study.configs.values_list("id", flat=True))


def test_study_decision_recommends_the_clear_winner() -> None:
    study = decided_study()
    first, second, third = _config_ids(study)
    report = study_decision(study=study)
    adherence = next(d for d in report.criteria if d.key == "prompt_adherence")
    assert adherence.clear and adherence.recommended is not None
    assert adherence.recommended.config_id == first
    assert adherence.leader is not None and adherence.leader.rank_high == 1
    assert adherence.leader.ci_low < adherence.leader.strength < adherence.leader.ci_high
    assert adherence.leader.p_best > 0.95
    assert adherence.summary.startswith("Use ")
    # What it beat: both others, every direct vote won (12 raters × 2 prompts).
    assert {b.config_id for b in adherence.beaten} == {second, third}
    for beaten in adherence.beaten:
        assert (beaten.wins, beaten.losses, beaten.ties) == (24, 0, 0)
        assert beaten.p_leader_wins > 0.9 and beaten.odds_ratio > 9
    # The grid: the winner and the runner-up on the same prompt and seed, display files only.
    assert adherence.runner_up is not None
    assert len(adherence.grid) == 2
    for row in adherence.grid:
        assert row.leader_file.startswith("img/") and row.runner_up_file.startswith("img/")
        assert row.leader_file != row.runner_up_file
        assert row.leader_url.endswith(row.leader_file)
    # Recipes of the named configurations, with fingerprint and adapters.
    assert {r.config_id for r in report.recipes} >= {first}
    recipe = next(r for r in report.recipes if r.config_id == first)
    assert len(recipe.fingerprint) == 64 and recipe.params["sampler"] == "euler_a"
    assert recipe.adapters == []
    assert report.raters.rows and len(report.raters.rows) == 12
    assert report.judgments == 12 * 3 * 2 * 2
    assert not report.empty


def test_study_decision_says_no_clear_winner_when_votes_are_ties() -> None:
    report = study_decision(study=decided_study())
    aesthetic = next(d for d in report.criteria if d.key != "prompt_adherence")
    assert not aesthetic.clear and aesthetic.recommended is None
    assert aesthetic.leader is not None and aesthetic.leader.rank_high > 1
    assert aesthetic.summary.startswith(NO_CLEAR_WINNER)
    # All ties: the strengths are level, so no configuration is even said to lead.
    assert "level" in aesthetic.summary and "leads" not in aesthetic.summary
    assert not aesthetic.reason.startswith(NO_CLEAR_WINNER)
    assert len(aesthetic.grid) == 2  # the two leading ones are still shown side by side


def test_study_decision_names_a_leader_without_crowning_it() -> None:
    """Four raters, the first configuration wins 5 of 8 against each other: it leads, but
    not with confidence."""
    study = ready_study(n_configs=3)
    first = _config_ids(study)[0]
    adherence = study.criteria.get(key="prompt_adherence")
    comparisons = list(study.comparisons.select_related("image_a", "image_b"))
    for i in range(8):
        user = rater(username=f"r{i}")
        for comp in comparisons:
            if first in (comp.image_a.config_id, comp.image_b.config_id):
                leader_side = "a" if comp.image_a.config_id == first else "b"
                other_side = "b" if leader_side == "a" else "a"
                vote(comp, user, adherence, leader_side if i < 5 else other_side)
            else:
                vote(comp, user, adherence, "a" if i % 2 else "b")
    decision = next(d for d in study_decision(study=study).criteria if d.key == adherence.key)
    assert decision.leader is not None and decision.leader.config_id == first
    assert not decision.clear and decision.recommended is None
    assert decision.leader.rank_high > 1
    assert decision.summary.startswith(NO_CLEAR_WINNER) and "leads" in decision.summary
    assert [(b.wins, b.losses) for b in decision.beaten] == [(5, 3), (5, 3)]


def test_study_decision_beaten_leaves_gold_pairs_out() -> None:
    """Gold pairs check raters; their votes are no preference (StudyVotes.preference): the
    direct votes of "what it beat" leave them out, as the method text says. The pair
    browser still shows them."""
    study = decided_study()
    first, second, third = _config_ids(study)
    comparisons = list(study.comparisons.select_related("image_a", "image_b").order_by("id"))
    gold = [
        c for c in comparisons if {c.image_a.config_id, c.image_b.config_id} == {first, second}
    ][0]
    leader_side = "a" if gold.image_a.config_id == first else "b"
    comparison_gold_set(study=study, comparison_id=gold.pk, winner=leader_side)
    adherence = next(d for d in study_decision(study=study).criteria if d.key == "prompt_adherence")
    assert adherence.leader is not None and adherence.leader.config_id == first
    beaten = {b.config_id: (b.wins, b.losses, b.ties) for b in adherence.beaten}
    # 12 raters on the one prompt whose first–second pair is not gold; both prompts for third.
    assert beaten == {second: (12, 0, 0), third: (24, 0, 0)}
    # The pair browser still shows the gold pair with its 12 votes.
    criterion = study.criteria.get(key="prompt_adherence")
    shown = {p.comparison.pk: p for p in study_pair_tallies(study=study, criterion=criterion)}
    assert gold.pk in shown
    assert shown[gold.pk].a_wins + shown[gold.pk].b_wins == 12


def test_study_decision_without_votes_is_empty() -> None:
    study = ready_study(n_configs=3)
    report = study_decision(study=study)
    assert report.empty and report.judgments == 0
    for decision in report.criteria:
        assert decision.leader is None and decision.recommended is None
        assert decision.beaten == [] and decision.grid == []
        assert decision.summary == "No votes on this criterion yet."
    assert report.recipes == []
    assert Comparison.objects.filter(study=study).count() == 3


# --- The page and the self-contained download ----------------------------------------------


def _login(client: Client) -> None:
    researcher(username="rita")
    assert client.login(username="rita", password="pw")


def test_study_report_page_shows_the_decision(client: Client) -> None:
    study = decided_study()
    first = _config_ids(study)[0]
    _login(client)
    page = client.get(f"/studies/{study.pk}/report/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-recommended="{first}"' in html
    assert "Recommended configuration" in html
    # The all-ties criterion: said once, as the headline.
    assert html.count("No configuration is ahead with confidence.") == 1
    assert "report.css" in html and "/media/img/" in html
    assert "Recipe to reproduce" in html and "Method, in plain words" in html
    assert f"/studies/{study.pk}/report/download/" in html
    assert "style=" not in html  # the site's CSP allows no style attributes
    assert "script-src 'self'" in page["Content-Security-Policy"]


def test_study_report_page_shows_the_no_clear_winner_constant(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The headline comes from the report (NO_CLEAR_WINNER), not a copy in the template."""
    monkeypatch.setattr(decision_module, "NO_CLEAR_WINNER", "Nothing leads for sure (test).")
    study = decided_study()
    _login(client)
    html = client.get(f"/studies/{study.pk}/report/").content.decode()
    assert html.count("Nothing leads for sure (test).") == 1
    assert NO_CLEAR_WINNER not in html


def test_study_report_empty_state(client: Client) -> None:
    study = ready_study(n_configs=2)
    _login(client)
    html = client.get(f"/studies/{study.pk}/report/").content.decode()
    assert "No votes yet" in html and "Recommended configuration" not in html


def test_study_report_linked_from_dashboard_and_study_detail(client: Client) -> None:
    study = ready_study(n_configs=2)
    _login(client)
    link = f'href="/studies/{study.pk}/report/"'
    assert link in client.get(f"/studies/{study.pk}/analysis/").content.decode()
    assert link in client.get(f"/studies/{study.pk}/").content.decode()


def test_study_report_download_is_self_contained(client: Client) -> None:
    study = decided_study()
    _login(client)
    response = client.get(f"/studies/{study.pk}/report/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"] == STANDALONE_CSP
    html = response.content.decode()
    # Every src/href is inline: no http(s), no /media/, no /static/.
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(ref.startswith("data:image/webp;base64,") for ref in refs)
    assert "/media/" not in html and "/static/" not in html and "<script" not in html
    assert "<style>" in html and ".report-grid-row" in html and "@media print" in html
    assert html.count("<img ") == 2 * 2 * 2  # two criteria × two rows × two images


def test_study_report_refuses_raters(client: Client) -> None:
    study = ready_study(n_configs=2)
    rater(username="rob")
    assert client.login(username="rob", password="pw")
    for url in (f"/studies/{study.pk}/report/", f"/studies/{study.pk}/report/download/"):
        assert client.get(url).status_code == 403


# --- The API -------------------------------------------------------------------------------


def test_decision_api_returns_the_report(client: Client) -> None:
    study = decided_study()
    first = _config_ids(study)[0]
    _login(client)
    data = client.get(f"/api/studies/{study.pk}/decision/").json()
    assert data["study_id"] == study.pk and data["empty"] is False
    adherence, aesthetic = (
        next(c for c in data["criteria"] if c["key"] == key)
        for key in (
            "prompt_adherence",
            next(c["key"] for c in data["criteria"] if c["key"] != "prompt_adherence"),
        )
    )
    assert adherence["clear"] and adherence["recommended"]["config_id"] == first
    assert adherence["recommended"]["rank_high"] == 1
    assert [b["wins"] for b in adherence["beaten"]] == [24, 24]
    assert adherence["grid"][0]["leader_url"].startswith("/media/img/")
    assert aesthetic["clear"] is False and aesthetic["recommended"] is None
    recipe = next(r for r in data["recipes"] if r["config_id"] == first)
    assert recipe["params"]["sampler"] == "euler_a" and len(recipe["fingerprint"]) == 64
    assert len(data["raters"]["rows"]) == 12


def test_decision_api_is_in_the_openapi_schema(client: Client) -> None:
    _login(client)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/studies/{study_id}/decision/" in text and "study_decision" in text


# --- The study's stopping rule beside the verdict ------------------------------------------


def _one_rater_thirty_wins() -> Study:
    """Two configurations, 30 prompts: one rater prefers the first on every one."""
    study, comparisons, criterion = launched(n_configs=2, n_prompts=30)
    first = _config_ids(study)[0]
    user = rater(username="solo")
    for comp in comparisons:
        vote(comp, user, criterion, "a" if comp.image_a.config_id == first else "b")
    return study


def test_study_decision_says_when_the_stopping_rule_has_not_decided() -> None:
    """The report recommends on the leader's rank interval (1–1 here); the study's anytime-valid
    rule counts one rater once per pair and has not decided: the criterion says so, in the
    stopping report's own sentence."""
    study = _one_rater_thirty_wins()
    adherence = next(d for d in study_decision(study=study).criteria if d.key == "prompt_adherence")
    assert adherence.clear and adherence.recommended is not None
    stopping = study_stopping(study=study, criterion=study.criteria.get(key="prompt_adherence"))
    assert not stopping.decided and stopping.more_votes is not None
    assert adherence.stopping_note == (
        f"The study's stopping rule (95 % anytime-valid) has not decided yet: about "
        f"{stopping.more_votes:,} more votes expected."
    )
    assert adherence.stopping_note == stopping.undecided_note


def test_study_report_page_and_api_show_the_stopping_note(client: Client) -> None:
    study = _one_rater_thirty_wins()
    note = next(
        d.stopping_note for d in study_decision(study=study).criteria if d.key == "prompt_adherence"
    )
    assert note.startswith("The study's stopping rule (95 % anytime-valid) has not decided yet")
    _login(client)
    html = client.get(f"/studies/{study.pk}/report/").content.decode()
    section = html[html.index('id="criterion-prompt_adherence"') :]
    assert escape(note) in section[: section.index("</section>")]
    data = client.get(f"/api/studies/{study.pk}/decision/").json()
    criterion = next(c for c in data["criteria"] if c["key"] == "prompt_adherence")
    assert criterion["clear"] is True and criterion["stopping_note"] == note


def test_study_decision_has_no_stopping_note_when_decided_or_without_a_rule() -> None:
    study = decided_study()
    adherence = next(d for d in study_decision(study=study).criteria if d.key == "prompt_adherence")
    assert study_stopping(study=study, criterion=study.criteria.get(key=adherence.key)).decided
    assert adherence.stopping_note == ""
    Study.objects.filter(pk=study.pk).update(decision_rule=Study.DecisionRule.NONE)
    study.refresh_from_db()
    cache.clear()
    assert all(d.stopping_note == "" for d in study_decision(study=study).criteria)
