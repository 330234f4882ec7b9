"""Factor effects, Holm and rater flags checked by simulation with known truth (fixed seeds, reduced sizes).

The simulations are bench/validity_raters.py's, run through ratings.analysis itself; the
bench runs them at full size. Each test here failed on the earlier rules: model-based
standard errors (γ's about 0.6 of its true spread with one side-biased rater), Holm over
mirrored rows, and flags from fixed cut-offs (the 60 % gold cut raised 7 % of honest raters).
"""

from __future__ import annotations

import numpy as np
import pytest
from django.test import Client
from django.utils.html import escape

from bench.validity_raters import (
    EFFECT_SCENARIOS,
    LEVELS,
    REFERENCE,
    EffectScenario,
    simulate_effect_study,
    simulate_effects,
    simulate_flags,
)
from ratings import reports
from ratings.analysis import (
    FACTOR_MIN_RATERS,
    FLAG_TESTS,
    POPULATION,
    THESE_RATERS,
    factor_effects,
)
from tests.factories import launched, rater, researcher, vote

SCENARIOS = {s.name: s for s in EFFECT_SCENARIOS}


def test_factor_effects_position_bias_se_tracks_its_spread_with_a_side_biased_rater() -> None:
    result = simulate_effects(SCENARIOS["one_side_biased_g40"], sims=40, seed=3)
    # The clustered SE is the spread of γ̂ across studies; the model-based one was ~0.6 of it.
    assert 0.8 <= result.position_se / result.position_sd <= 1.25
    assert result.position_se_baseline / result.position_sd < 0.75
    assert 0.88 <= result.position_coverage <= 1.0


@pytest.mark.parametrize("name", ["rater_effects_g10", "rater_effects_g5", "same_g10"])
def test_factor_effects_cover_the_population_effects(name: str) -> None:
    result = simulate_effects(SCENARIOS[name], sims=60, seed=5)
    assert 0.90 <= result.coverage <= 0.98


def test_factor_effects_estimand_follows_the_number_of_raters() -> None:
    rng = np.random.default_rng(0)
    few = factor_effects(
        LEVELS, simulate_effect_study(rng, EffectScenario("two", 2)), reference=REFERENCE
    )
    assert few.raters == 2 < FACTOR_MIN_RATERS
    assert few.estimand == THESE_RATERS and few.df is None
    assert few.position_se == few.position_model_se  # about these raters' votes
    many = factor_effects(
        LEVELS, simulate_effect_study(rng, EffectScenario("five", 5, 0.4, 0.3)), reference=REFERENCE
    )
    assert many.raters == 5 and many.estimand == POPULATION and many.df == 4
    coefficient = many.coefficients[0]
    # t with 4 degrees of freedom: 2.776 standard errors either side.
    assert coefficient.ci_high - coefficient.beta == pytest.approx(2.776 * coefficient.se, 1e-3)
    assert 0 <= coefficient.p_value <= coefficient.p_holm <= 1


def test_rater_flags_spare_honest_raters_and_catch_clickers_and_left_clickers() -> None:
    result = simulate_flags(30, seed=21)
    for flag in FLAG_TESTS:
        assert result.honest[flag] <= 0.03, flag
    assert result.honest_any <= 0.05
    assert result.honest_baseline["fails gold"] > 0.05  # the fixed 60 % cut
    assert result.clicker_power >= 0.75
    assert result.always_left_power == 1.0


@pytest.mark.django_db
def test_study_factor_effects_cluster_by_rater() -> None:
    study, comps, crit = launched(n_configs=3)
    # Five raters: four honest (image a wins), one who always picks the left image.
    for i in range(5):
        user = rater(username=f"u{i}")
        for k, comp in enumerate(comps):
            left = "a" if (k + i) % 2 else "b"
            vote(comp, user, crit, left if i == 4 else "a", left=left)
    report = reports.study_factor_effects(study=study, criterion=crit)
    assert report.raters == 5 and report.estimand == POPULATION and report.df == 4
    assert report.position_se is not None and report.position_se > 0
    assert all(0 <= r.p_holm <= 1 and r.p_value <= r.p_holm for r in report.rows)


@pytest.mark.django_db
def test_dashboard_states_the_holm_family_and_each_flag_test(client: Client) -> None:
    study, comps, crit = launched(n_configs=3)
    for i in range(4):
        user = rater(username=f"r{i}")
        for comp in comps:
            vote(comp, user, crit, "a", left="a" if i % 2 else "b")
    win = reports.study_win_rates(study=study, criterion=crit)
    # One factor (sampler) with three levels in the table: three contrasts.
    assert win.contrasts == 3 and len(win.rows) == 3
    researcher(username="rita")
    assert client.login(username="rita", password="pw")
    page = client.get(f"/studies/{study.pk}/analysis/?criterion={crit.key}").content.decode()
    assert "Holm-adjusted over the 3 contrasts in this table" in page
    effects_report = reports.study_factor_effects(study=study, criterion=crit)
    assert effects_report.estimand_note.startswith("About raters in general, on these prompts")
    assert escape(effects_report.estimand_note) in page
    for flag in FLAG_TESTS:
        assert flag in page
    assert "at most 5&nbsp;% of the time" in page
    api = f"/api/studies/{study.pk}"
    assert client.get(f"{api}/win-rates/?criterion={crit.key}").json()["contrasts"] == 3
    effects = client.get(f"{api}/factor-effects/?criterion={crit.key}").json()
    assert (effects["estimand"], effects["raters"], effects["df"]) == ("population", 4, 3)
    raters = client.get(f"{api}/raters/").json()
    assert [t["flag"] for t in raters["tests"]] == list(FLAG_TESTS)
    assert raters["flag_level"] == 0.01


@pytest.mark.django_db
def test_dashboard_says_when_too_few_raters_to_generalise(client: Client) -> None:
    study, comps, crit = launched(n_configs=3)
    for i in range(2):
        user = rater(username=f"r{i}")
        for comp in comps:
            vote(comp, user, crit, "a", left="a" if i % 2 else "b")
    report = reports.study_factor_effects(study=study, criterion=crit)
    assert report.estimand == THESE_RATERS and report.raters == 2 and report.df is None
    researcher(username="rita")
    assert client.login(username="rita", password="pw")
    page = client.get(f"/studies/{study.pk}/analysis/?criterion={crit.key}").content.decode()
    assert report.estimand_note.startswith(
        "About these raters' votes only, on these prompts: 2 raters voted, and the factor "
        "effects' intervals speak for raters in general from 3 raters"
    )
    assert escape(report.estimand_note) in page
