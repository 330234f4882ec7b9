"""The reports' shared words: what intervals are about (one vocabulary, one sentence builder for
the leaderboard and the factor effects, on the page and in the API) and one percent format."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils.html import escape

from ratings import analysis, reports
from ratings.models import Study
from ratings.reports.stopping import study_stopping
from ratings.reports.wording import FACTOR_EFFECTS, LEADERBOARD, estimand_note, percent
from tests.factories import launched, rater, researcher, vote

LEADERBOARD_5 = (
    "About these raters' votes only, on these prompts: 5 raters voted, and the leaderboard's "
    "intervals speak for raters in general from 10 raters (below that, their variance "
    "clustered by rater (CR1) is too unsteady). Add raters to say how others would judge."
)
EFFECTS_5 = (
    "About raters in general, on these prompts: 5 raters voted, and the factor effects' "
    "intervals speak for raters in general from 3 raters (their variance clustered by rater "
    "has the CR2 small-sample correction, which holds with few raters). The intervals allow "
    "for each rater's own taste (t with 4 degrees of freedom)."
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Reports are cached by study id and vote counts; rolled-back tests can reuse both.
    cache.clear()


@pytest.fixture
def five_raters() -> Study:
    """Three samplers, five raters: enough for the factor effects' intervals to speak for
    raters in general, too few for the leaderboard's."""
    study, comps, crit = launched(n_configs=3)
    for i in range(5):
        user = rater(username=f"five{i}")
        for k, comp in enumerate(comps):
            vote(comp, user, crit, "a" if (i + k) % 3 else "b", left="a" if (i + k) % 2 else "b")
    return study


def test_estimand_vocabulary_is_shared_by_the_leaderboard_and_the_factor_effects() -> None:
    assert (analysis.POPULATION, analysis.THESE_RATERS) == ("population", "these_raters")
    assert (LEADERBOARD.min_raters, FACTOR_EFFECTS.min_raters) == (10, 3)
    assert LEADERBOARD.min_raters == analysis.POPULATION_MIN_RATERS
    assert FACTOR_EFFECTS.min_raters == analysis.FACTOR_MIN_RATERS


def test_estimand_note_names_each_models_minimum_at_five_raters() -> None:
    assert estimand_note(LEADERBOARD, estimand="these_raters", raters=5, df=None) == LEADERBOARD_5
    assert estimand_note(FACTOR_EFFECTS, estimand="population", raters=5, df=4) == EFFECTS_5
    assert estimand_note(LEADERBOARD, estimand=None, raters=0, df=None) == ""
    with pytest.raises(ValueError, match="Unknown estimand 'votes'"):
        estimand_note(FACTOR_EFFECTS, estimand="votes", raters=2, df=None)


@pytest.mark.django_db
def test_five_raters_page_and_apis_give_the_builders_sentences(
    client: Client, five_raters: Study
) -> None:
    study = five_raters
    board = reports.study_leaderboard(study=study, criterion=None)
    effects = reports.study_factor_effects(study=study, criterion=None)
    assert (board.estimand, board.raters) == (analysis.THESE_RATERS, 5)
    assert (effects.estimand, effects.raters, effects.df) == (analysis.POPULATION, 5, 4)
    assert (board.estimand_note, effects.estimand_note) == (LEADERBOARD_5, EFFECTS_5)

    researcher(username="rita")
    assert client.login(username="rita", password="pw")
    page = client.get(f"/studies/{study.pk}/analysis/").content.decode()
    leaderboard_section = page[page.index('id="leaderboard"') : page.index('id="factor-effects"')]
    effects_section = page[page.index('id="factor-effects"') : page.index('id="raters"')]
    assert escape(LEADERBOARD_5) in leaderboard_section
    assert escape(EFFECTS_5) in effects_section
    # No second wording of the same thing is typed in the template.
    assert "About the rater population." not in page and "too few to say how" not in page

    api = f"/api/studies/{study.pk}"
    body = client.get(f"{api}/leaderboard/").json()
    assert (body["estimand"], body["estimand_note"], body["min_raters"]) == (
        "these_raters",
        LEADERBOARD_5,
        10,
    )
    body = client.get(f"{api}/factor-effects/").json()
    assert (body["estimand"], body["estimand_note"], body["min_raters"]) == (
        "population",
        EFFECTS_5,
        3,
    )


@pytest.mark.django_db
def test_factor_effects_without_votes_have_no_estimand() -> None:
    study, _, crit = launched(n_configs=2)
    report = reports.study_factor_effects(study=study, criterion=crit)
    assert report.estimand is None and report.estimand_note == ""


@pytest.mark.parametrize(
    ("share", "digits", "text"),
    [
        (0.95, 0, "95 %"),
        (0.95, 1, "95 %"),
        (0.975, 1, "97.5 %"),
        (0.625, 1, "62.5 %"),
        (0.6, 0, "60 %"),
        (0.004, 0, "0 %"),
        (-0.001, 0, "0 %"),
        (1.0, 0, "100 %"),
        (None, 0, "—"),
    ],
)
def test_percent_formats_shares_with_a_space(share: float | None, digits: int, text: str) -> None:
    assert percent(share, digits=digits) == text


def test_percent_refuses_negative_digits() -> None:
    with pytest.raises(ValueError, match="digits must be 0 or more"):
        percent(0.5, digits=-1)


@pytest.mark.django_db
def test_dashboard_reads_the_detectable_win_rate_and_the_significance_level(
    client: Client, five_raters: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The win-rate table's "Votes to …" column and its highlighted rows come from the
    constants (DETECTABLE_WIN_RATE, SIGNIFICANCE), not from numbers typed in the template."""
    researcher(username="rita")
    assert client.login(username="rita", password="pw")
    url = f"/studies/{five_raters.pk}/analysis/"
    page = client.get(url).content.decode()
    table = page[page.index('id="win-rates"') : page.index('id="leaderboard"')]
    assert "Votes to 60 %</th>" in table and "detect a 60 % win rate" in table
    win = reports.study_win_rates(study=five_raters, criterion=None)
    assert win.rows and not any(r.significant for r in win.rows)
    assert 'class="an-up"' not in table and 'class="an-down"' not in table

    monkeypatch.setattr(analysis.rates, "SIGNIFICANCE", 1.01)  # every row "significant"
    cache.clear()
    win = reports.study_win_rates(study=five_raters, criterion=None)
    assert win.rows and all(r.significant for r in win.rows)
    page = client.get(url).content.decode()
    table = page[page.index('id="win-rates"') : page.index('id="leaderboard"')]
    assert table.count('class="an-up"') + table.count('class="an-down"') == len(win.rows)


@pytest.mark.django_db
def test_dashboard_and_stopping_share_the_percent_format(
    client: Client, five_raters: Study
) -> None:
    stopping = study_stopping(study=five_raters, criterion=None)
    assert stopping.confidence_label == "95 %"
    researcher(username="rita")
    assert client.login(username="rita", password="pw")
    page = client.get(f"/studies/{five_raters.pk}/analysis/").content.decode()
    # The leaderboard's forest plot notes P(best) the same way: "best 40 %", never "best 40%".
    assert "best " in page and not any(f"best {n}%" in page for n in range(101))
