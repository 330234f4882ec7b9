"""Anytime-valid stopping: the e-processes (simulated, fixed seeds), the rule, the page, the API."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client

from bench.validity_stopping import SCENARIOS, Scenario, SimVotes, naive_decision, simulate
from ratings.analysis.stopping import (
    DecisionRule,
    rater_units,
    rule_check,
    stopping_state,
    unit_sizes,
)
from ratings.forms import StudyForm
from ratings.models import Study
from tests.factories import PromptFactory, launched, make_config, rater, researcher, vote

K = 4


def _decide(votes: SimVotes) -> tuple[int | None, int | None]:
    state = stopping_state(
        K,
        votes.item_a,
        votes.item_b,
        votes.score,
        votes.rater,
        rule=DecisionRule("best", 0.95),
        max_votes_per_pair=8,
    )
    return (state.leader, state.decided_at) if state.decided else (None, None)


# --------------------------------------------------------------------------- the statistics


@pytest.mark.parametrize("scenario", [SCENARIOS[1], SCENARIOS[3]], ids=lambda s: s.name)
def test_stopping_state_null_studies_checked_after_every_vote_rarely_decide(
    scenario: Scenario,
) -> None:
    """All configurations equal, raters with their own leanings (sd 0.5 logits): the naive
    fixed-sample test, looked at after every vote, declares winners; ours stays under 5 %."""
    rng = np.random.default_rng(7)
    n = 60
    ours = naive = 0
    for _ in range(n):
        votes = simulate(rng, scenario, np.zeros(K))
        ours += _decide(votes)[0] is not None
        naive += naive_decision(votes)[0] is not None
    assert ours <= 0.05 * n
    assert naive > ours


def test_stopping_state_decides_a_strong_effect_for_the_true_best() -> None:
    rng = np.random.default_rng(3)
    crowd = Scenario("crowd", 200, 12, 0.5, 0.3)
    results = [_decide(simulate(rng, crowd, np.array([1.5, 0.0, 0.0, 0.0]))) for _ in range(10)]
    decided = [(w, at) for w, at in results if w is not None]
    assert len(decided) >= 8
    assert all(w == 0 and at is not None and at < 2400 for w, at in decided)


def test_stopping_state_one_rater_never_decides_however_many_votes() -> None:
    """A rater's votes are one unit per pair: 500 votes from one rater are one opinion."""
    n = 500
    state = stopping_state(
        2,
        np.zeros(n, np.int64),
        np.ones(n, np.int64),
        np.ones(n),
        np.zeros(n, np.int64),
        rule=DecisionRule("pair", 0.95, a=0, b=1),
        max_votes_per_pair=16,
    )
    assert not state.decided and state.leader == 0
    assert state.claims[0].units == len(unit_sizes(16)) == 3  # sizes 1, 4 and 16


def test_stopping_state_pair_rule_decides_either_direction_and_projects_before() -> None:
    rng = np.random.default_rng(11)
    raters = np.repeat(np.arange(60), 4)
    a = np.zeros(raters.size, np.int64)
    b = np.ones(raters.size, np.int64)
    score = (rng.random(raters.size) < 0.2).astype(float)  # b wins 80 %
    rule = DecisionRule("pair", 0.95, a=0, b=1)
    full = stopping_state(2, a, b, score, raters, rule=rule, max_votes_per_pair=4)
    assert full.decided and full.leader == 1 and full.loser == 0
    assert full.decided_at is not None and full.decided_at <= raters.size
    early = stopping_state(
        2, a[:40], b[:40], score[:40], raters[:40], rule=rule, max_votes_per_pair=4
    )
    assert not early.decided and early.leader == 1
    assert early.more_votes is not None and 0 < early.more_votes < 2000


def test_stopping_state_without_a_lead_gives_no_projection() -> None:
    raters = np.arange(20)
    a, b = np.zeros(20, np.int64), np.ones(20, np.int64)
    score = np.tile([1.0, 0.0], 10)
    state = stopping_state(
        2, a, b, score, raters, rule=DecisionRule("best", 0.95), max_votes_per_pair=1
    )
    assert not state.decided and state.more_votes is None
    none = np.zeros(0, np.int64)
    empty = stopping_state(
        3, none, none, np.zeros(0), none, rule=DecisionRule("best"), max_votes_per_pair=4
    )
    assert (empty.decided, empty.leader, empty.more_votes, empty.votes) == (False, None, None, 0)


def test_rater_units_take_each_raters_first_votes_on_a_pair() -> None:
    # rater 7 votes a>b, a<b, tie, a>b on pair (0, 1); rater 8 once, from the other side.
    units = rater_units(
        np.array([0, 1, 0, 0, 1]),
        np.array([1, 0, 1, 1, 0]),
        np.array([1.0, 1.0, 0.5, 1.0, 1.0]),
        np.array([7, 7, 7, 7, 8]),
        (1, 4),
    )
    assert units.size.tolist() == [1, 4, 1]  # in the order they complete
    assert units.y.tolist() == [1.0, 0.25, -1.0]  # (1 − 1 + 0 + 1) / 4; rater 8 chose item 1
    assert units.at.tolist() == [0, 3, 4]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (DecisionRule("best", 1.0), "confidence must be at least 0.5 and below 1"),
        (DecisionRule("pair", 0.95, a=0, b=None), "needs both configurations"),
        (DecisionRule("pair", 0.95, a=1, b=1), "two different configurations"),
        (DecisionRule("pair", 0.95, a=0, b=5), "must be among the study's"),
    ],
)
def test_rule_check_names_the_field_and_the_rule(rule: DecisionRule, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule_check(rule, 3)


# --------------------------------------------------------------------------- study settings


CRITERIA_FORM = {
    "form-TOTAL_FORMS": "1",
    "form-INITIAL_FORMS": "0",
    "form-0-label": "Prompt adherence",
    "form-0-question": "Which image better matches the prompt?",
}


@pytest.mark.django_db
def test_study_form_checks_the_pair_rules_configurations(client: Client) -> None:
    inside = [make_config(sampler=s) for s in ("euler_a", "ddim")]
    outside = make_config(sampler="heun")
    data = {
        "name": "rule",
        "prompts": [PromptFactory().pk],
        "configs": [c.pk for c in inside],
        "design": "all_pairs",
        "seeds_per_prompt": "1",
        "base_seed": "1234",
        "target_judgments": "5",
        "gold_rate": "0.05",
        "decision_rule": "pair",
        "decision_confidence": "0.95",
        "decision_a": inside[0].pk,
        "decision_b": outside.pk,
    }
    # The page: the form, then study_create's check (which the API shares), on the field.
    client.force_login(researcher(username="rita"))
    page = client.post("/studies/new/", {**data, **CRITERIA_FORM})
    assert page.status_code == 200 and Study.objects.count() == 0
    assert page.context["form"].errors["decision_b"] == [
        "Choose one of the study's configurations."
    ]
    form = StudyForm({**data, "decision_b": "", "decision_confidence": "1.5"})
    assert not form.is_valid()
    assert form.errors["decision_b"] == [
        "A decision between two configurations needs both of them."
    ]
    assert form.errors["decision_confidence"] == [
        "Decision confidence must be between 0.5 and 0.999."
    ]
    defaults = StudyForm({k: v for k, v in data.items() if not k.startswith("decision")})
    assert defaults.is_valid(), defaults.errors
    assert defaults.cleaned_data["decision_rule"] == "best"
    assert defaults.cleaned_data["decision_confidence"] == 0.95


@pytest.mark.django_db
def test_study_api_sets_and_checks_the_decision_rule(client: Client) -> None:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    configs = [make_config(sampler=s).pk for s in ("euler_a", "ddim", "heun")]
    body = {"name": "API rule", "configs": configs[:2], "decision_rule": "pair"}
    bad = client.post(
        "/api/studies/", {**body, "decision_a": configs[0], "decision_b": configs[2]},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 400
    assert bad.json() == {"decision_b": ["Choose one of the study's configurations."]}
    same = client.post(
        "/api/studies/", {**body, "decision_a": configs[0], "decision_b": configs[0]},
        content_type="application/json",
    )  # fmt: skip
    assert same.status_code == 400
    assert same.json()["decision_b"] == ["Choose two different configurations to decide between."]
    assert Study.objects.count() == 0
    ok = client.post(
        "/api/studies/",
        {**body, "decision_a": configs[1], "decision_b": configs[0], "decision_confidence": 0.99},
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["decision_rule"] == "pair" and ok.json()["decision_confidence"] == 0.99
    study = Study.objects.get()
    patch = client.patch(
        f"/api/studies/{study.pk}/", {"decision_confidence": 0.3}, content_type="application/json"
    )
    assert patch.status_code == 400
    assert patch.json() == {
        "decision_confidence": ["Decision confidence must be between 0.5 and 0.999."]
    }


# --------------------------------------------------------------------------- page and API


@pytest.fixture
def decided() -> Study:
    """Two samplers, one comparison; 12 raters each prefer the first sampler."""
    cache.clear()
    study, comps, crit = launched(n_configs=2)
    (comp,) = comps
    first = min(study.configs.values_list("id", flat=True))
    for i in range(12):
        vote(comp, rater(username=f"d{i}"), crit, "a" if comp.image_a.config_id == first else "b")
    return study


@pytest.mark.django_db
def test_dashboard_shows_the_decision_in_the_htmx_fragment(client: Client, decided: Study) -> None:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    page = client.get(
        f"/studies/{decided.pk}/analysis/?criterion=prompt_adherence",
        headers={"HX-Request": "true", "HX-Target": "dashboard"},
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert html.lstrip().startswith('<div id="dashboard"')
    # Unnamed configurations go by what differs from the baseline; the winner is the baseline.
    assert "<strong>Decided: baseline beats all others" in html
    assert "beats all others at 95 %.</strong>" in html
    assert "Reached after 9 of 12 votes." in html  # (1/6) · 1.9^9 ≥ 2 / 0.05 > (1/6) · 1.9^8
    # Fewer raters: undecided, with a projection.
    other = decided.criteria.get(key="modern_aesthetic")
    (comp,) = decided.comparisons.all()
    for i in range(3):
        vote(comp, rater(username=f"m{i}"), other, "a")
    html = client.get(
        f"/studies/{decided.pk}/analysis/?criterion=modern_aesthetic"
    ).content.decode()
    assert "Not decided: about" in html and "more votes" in html


@pytest.mark.django_db
def test_api_stopping_reports_the_state_and_follows_the_rule(
    client: Client, decided: Study
) -> None:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    body = client.get(f"/api/studies/{decided.pk}/stopping/?criterion=prompt_adherence").json()
    assert body["decided"] is True and body["rule"] == "best"
    assert body["leader_id"] == min(decided.configs.values_list("id", flat=True))
    assert body["claims"][0]["e_value"] >= body["threshold"] == pytest.approx(40.0)
    Study.objects.filter(pk=decided.pk).update(decision_rule="none")
    body = client.get(f"/api/studies/{decided.pk}/stopping/").json()
    assert body["decided"] is False and body["problem"] == "No decision rule is set for this study."
    bad = client.get(f"/api/studies/{decided.pk}/stopping/?criterion=nope")
    assert bad.status_code == 400 and "criterion" in json.loads(bad.content)


@pytest.mark.django_db
def test_study_stopping_counts_the_leaderboards_votes_only(decided: Study) -> None:
    """Excluded raters, gold pairs and swapped-sides repeats do not count: with 4 of the 12
    raters excluded, 8 units are one short of the 9 the decision needs."""
    from ratings.reports.stopping import study_stopping

    crit = decided.criteria.get(key="prompt_adherence")
    (comp,) = decided.comparisons.all()
    users = list(decided.comparisons.get().judgments.order_by("id").values_list("rater", flat=True))
    decided.excluded_raters.add(*users[:4])
    for user in decided.excluded_raters.all()[:2]:
        decided.excluded_raters.remove(user)
        vote(comp, user, crit, "b", repeat=True)
        decided.excluded_raters.add(user)
    report = study_stopping(study=decided, criterion=crit)
    assert report.votes == 8 and report.raters == 8 and not report.decided
    assert report.more_votes is not None and report.more_votes >= 1
    decided.excluded_raters.clear()
    assert study_stopping(study=decided, criterion=crit).decided
    type(comp).objects.filter(pk=comp.pk).update(is_gold=True)
    cache.clear()
    gold = study_stopping(study=decided, criterion=crit)
    assert gold.votes == 0 and gold.summary == "Not decided: no votes yet."
