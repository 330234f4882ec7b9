"""Automatic metrics against people: the selector on hand-built votes and scores, the API and
the dashboard section."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client

from generation.models import Image, ImageScore
from ratings import reports
from ratings.analysis import cluster_mean_interval, metric_agreement, metric_credit
from ratings.models import Comparison, Study
from tests.factories import launched, rater, researcher, vote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def score(image: Image, metric: str, value: float) -> None:
    ImageScore.objects.create(image=image, metric=metric, value=value, model_path=f"/m/{metric}")


@pytest.fixture
def judged() -> tuple[Study, Comparison]:
    """One pair: CLIP prefers image a, the aesthetic head cannot tell them apart.

    Prompt adherence: three raters pick a, one picks b (first votes); an excluded rater's vote,
    swapped-sides repeats and votes on the other criterion must not count as preferences.
    """
    study, (comp,), crit = launched(n_configs=2)
    other = study.criteria.get(key="modern_aesthetic")
    score(comp.image_a, "clip", 31.5)
    score(comp.image_b, "clip", 24.0)
    score(comp.image_a, "aesthetic", 5.25)
    score(comp.image_b, "aesthetic", 5.25)
    users = [rater(username=f"r{i}") for i in range(4)]
    for user, outcome in zip(users, ["a", "a", "a", "b"], strict=True):
        vote(comp, user, crit, outcome)
        vote(comp, user, other, "b")
    # Repeats with sides swapped: r0 keeps a (1), r3 turns b into a (0), r1 says tie (½).
    vote(comp, users[0], crit, "a", left="b", repeat=True)
    vote(comp, users[3], crit, "a", left="b", repeat=True)
    vote(comp, users[1], crit, "tie", left="b", repeat=True)
    banned = rater(username="banned")
    vote(comp, banned, crit, "b")
    vote(comp, banned, crit, "a", left="b", repeat=True)
    study.excluded_raters.add(banned)
    return study, comp


def test_study_metric_agreement_counts_how_often_the_metric_picks_the_winner(
    judged: tuple[Study, Comparison],
) -> None:
    study, _ = judged
    crit = study.criteria.get(key="prompt_adherence")
    report = reports.study_metric_agreement(study=study, criterion=crit)
    rows = {r.metric: r for r in report.rows}
    assert set(rows) == {"aesthetic", "clip"}
    clip = rows["clip"]
    assert (clip.votes, clip.agreement) == (4, pytest.approx(0.75))  # 3 of 4
    assert clip.agreement == pytest.approx(metric_agreement([31.5] * 4, [24.0] * 4, [0, 0, 0, 1]))
    assert clip.scored_images == 2 and clip.model_path == "/m/clip" and not clip.configured
    # One comparison: the cluster bootstrap has nothing to resample but that pair.
    assert (clip.ci_low, clip.ci_high) == (pytest.approx(0.75), pytest.approx(0.75))
    assert rows["aesthetic"].agreement == pytest.approx(0.5)  # the metric ties: half each
    assert report.judgments == 4 and report.criterion == "prompt_adherence"
    assert report.ceiling_repeats == 3 and report.ceiling == pytest.approx(1.5 / 3)

    # All criteria: the four "b" votes on modern aesthetic go against CLIP.
    both = {r.metric: r for r in reports.study_metric_agreement(study=study).rows}
    assert (both["clip"].votes, both["clip"].agreement) == (8, pytest.approx(3 / 8))


def test_metric_agreement_is_tie_aware_and_skips_unscored_pairs_and_gold() -> None:
    study, comps, crit = launched(n_configs=2, n_prompts=3)
    scored, gold, unscored = comps
    for comp, a, b in ((scored, 2.0, 1.0), (gold, 1.0, 2.0)):
        score(comp.image_a, "clip", a)
        score(comp.image_b, "clip", b)
    Comparison.objects.filter(pk=gold.pk).update(is_gold=True)
    users = [rater() for _ in range(3)]
    for user, outcome in zip(users, ["a", "tie", "both_bad"], strict=True):
        vote(scored, user, crit, outcome)
        vote(gold, user, crit, "a")
        vote(unscored, user, crit, "b")
    report = reports.study_metric_agreement(study=study, criterion=crit)
    (clip,) = report.rows
    assert clip.votes == 3 and clip.agreement == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert report.judgments == 6  # the unscored pair's votes count as votes, not for CLIP
    assert report.ceiling is None and report.ceiling_repeats == 0


def test_configured_metric_without_scores_and_new_scores_recompute(
    settings: Any, judged: tuple[Study, Comparison]
) -> None:
    study, comp = judged
    settings.LOUPE_SCORERS = {"clip": "/models/clip", "aesthetic-v2": "/models/laion"}
    crit = study.criteria.get(key="prompt_adherence")
    rows = {r.metric: r for r in reports.study_metric_agreement(study=study, criterion=crit).rows}
    assert rows["clip"].configured and rows["clip"].model_path == "/models/clip"
    fresh = rows["aesthetic-v2"]
    assert (fresh.votes, fresh.agreement, fresh.scored_images) == (0, None, 0)
    score(comp.image_a, "aesthetic-v2", 1.0)
    score(comp.image_b, "aesthetic-v2", 9.0)
    rows = {r.metric: r for r in reports.study_metric_agreement(study=study, criterion=crit).rows}
    assert rows["aesthetic-v2"].agreement == pytest.approx(0.25)


def test_no_scorer_and_no_scores_gives_no_rows(settings: Any) -> None:
    settings.LOUPE_SCORERS = {}
    study, _, crit = launched(n_configs=2)
    report = reports.study_metric_agreement(study=study, criterion=crit)
    assert report.rows == [] and report.judgments == 0 and report.ceiling is None


def test_cluster_mean_interval_resamples_comparisons_not_votes() -> None:
    assert list(metric_credit([2, 1, 3, 3], [1, 2, 3, 0], [0, 0, 1, 2])) == [1.0, 0.0, 0.5, 0.5]
    assert cluster_mean_interval([], []) is None
    # 40 comparisons, 10 votes each, all-or-nothing per pair: 24 of 40 pairs agree (60 %).
    credit = np.array([10.0] * 24 + [0.0] * 16)
    votes = np.full(40, 10.0)
    low, high = cluster_mean_interval(credit, votes, n_boot=400) or (0.0, 0.0)
    assert low < 0.6 < high
    # Resampling 400 independent votes would claim about ±5 %; 40 pairs honestly give about ±15 %.
    assert high - low > 0.2
    with pytest.raises(ValueError, match="same length"):
        cluster_mean_interval([1.0], [1.0, 2.0])


# --------------------------------------------------------------------------- API and page


def login(client: Client) -> None:
    researcher(username="rita")
    assert client.login(username="rita", password="pw")


def test_api_metrics_returns_the_numbers_for_researchers_only(
    client: Client, judged: tuple[Study, Comparison]
) -> None:
    study, _ = judged
    url = f"/api/studies/{study.pk}/metrics/"
    rater(username="ray")
    client.login(username="ray", password="pw")
    assert client.get(url).status_code == 403
    client.logout()
    login(client)
    data = client.get(url + "?criterion=prompt_adherence").json()
    rows = {r["metric"]: r for r in data["rows"]}
    assert rows["clip"]["agreement"] == pytest.approx(0.75) and rows["clip"]["votes"] == 4
    assert data["ceiling"] == pytest.approx(0.5) and data["ceiling_repeats"] == 3
    assert data["criterion"] == "prompt_adherence" and data["judgments"] == 4
    assert client.get(url + "?criterion=sparkle").status_code == 400


def test_openapi_schema_lists_the_metrics_endpoint(client: Client) -> None:
    login(client)
    schema = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    operation = json.loads(schema.content)["paths"]["/api/studies/{study_id}/metrics/"]["get"]
    assert operation["operationId"] == "study_metrics"
    assert any(p["name"] == "criterion" for p in operation["parameters"])


def test_dashboard_shows_metrics_beside_the_human_ceiling(
    client: Client, judged: tuple[Study, Comparison]
) -> None:
    study, _ = judged
    login(client)
    html = client.get(f"/studies/{study.pk}/analysis/?criterion=prompt_adherence").content.decode()
    section = html[html.index('id="metrics"') : html.index('id="pairs"')]
    assert "Automatic metrics vs people" in section
    assert "75 %" in section and "50 %" in section  # CLIP, and aesthetic / the ceiling
    assert "People against themselves" in section and "No scorer is configured" not in section
    assert f"/api/studies/{study.pk}/metrics/?criterion=prompt_adherence" in section


def test_dashboard_says_when_no_scorer_is_configured(client: Client, settings: Any) -> None:
    settings.LOUPE_SCORERS = {}
    study, _, _ = launched(n_configs=2)
    login(client)
    html = client.get(f"/studies/{study.pk}/analysis/").content.decode()
    assert "Automatic metrics vs people" in html and "No scorer is configured" in html
    assert f"score_images --study {study.pk}" in html


def test_dashboard_calls_only_the_metrics_figure_a_ceiling(
    client: Client, judged: tuple[Study, Comparison]
) -> None:
    study, _ = judged
    login(client)
    html = client.get(f"/studies/{study.pk}/analysis/").content.decode()
    raters = html[html.index('id="raters"') : html.index("</p>", html.index('id="raters"'))]
    # r0 kept a, r3 turned b into a, r1 said tie: one of three repeats answered the same way.
    assert "repeat consistency: 33% of swapped-sides repeats answered exactly the same way" in (
        raters
    )
    assert "ceiling" not in raters.lower()
    metrics = html[html.index('id="metrics"') : html.index('id="pairs"')]
    assert "the practical ceiling for a metric" in metrics
