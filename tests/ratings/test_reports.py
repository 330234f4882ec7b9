"""Selectors that aggregate judgments in SQL (ratings.reports), on small hand-made studies."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache

from ratings import reports
from ratings.analysis import wilson_interval
from ratings.models import Comparison, Criterion, Judgment, VoteTally
from ratings.services.raters import rater_exclude, rater_restore
from tests.factories import by_configs, launched, rater, researcher, vote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Reports are cached by study id and vote counts; rolled-back tests can reuse both.
    cache.clear()


def test_pair_counts_group_by_side_and_leave_out_excluded_repeats_and_gold() -> None:
    study, comps, crit = launched(n_configs=2)
    (comp,) = comps
    r1, r2, banned = rater(), rater(), rater()
    vote(comp, r1, crit, "a", left="a")
    vote(comp, r1, crit, "b", left="b", repeat=True)
    vote(comp, r2, crit, "tie", left="b")
    vote(comp, banned, crit, "b", left="a")
    study.excluded_raters.add(banned)
    rows = sorted(reports.pair_counts(study=study, criterion=crit), key=lambda r: r.rater)
    assert [(r.rater, r.a_left, r.a_wins, r.b_wins, r.ties) for r in rows] == [
        (r1.pk, True, 1, 0, 0),
        (r2.pk, False, 0, 0, 1),
    ]
    Comparison.objects.filter(pk=comp.pk).update(is_gold=True)
    assert reports.pair_counts(study=study, criterion=crit) == []


def test_study_win_rates_per_sampler_with_wilson_and_criterion_filter() -> None:
    study, comps, crit = launched(n_configs=3)
    other = study.criteria.get(key="modern_aesthetic")
    configs = sorted(study.configs.values_list("id", flat=True))  # euler_a, ddim, dpmpp_2m
    euler_vs_ddim = by_configs(comps, configs[0], configs[1])
    euler_is_a = euler_vs_ddim.image_a.config_id == configs[0]
    raters = [rater() for _ in range(8)]
    # Euler Ancestral beats DDIM 5 times out of 8: the report's "62.5 %".
    for i, user in enumerate(raters):
        euler_won = i < 5
        side = "a" if euler_won == euler_is_a else "b"
        vote(euler_vs_ddim, user, crit, side)
        vote(euler_vs_ddim, user, other, "tie")
    report = reports.study_win_rates(study=study, criterion=crit)
    rows = {(r.factor, r.level): r for r in report.rows}
    euler = rows[("sampler", "euler_a")]
    assert (euler.wins, euler.losses, euler.votes) == (5, 3, 8)
    assert euler.win_rate == pytest.approx(0.625)
    assert (euler.ci_low, euler.ci_high) == pytest.approx((0.3057, 0.8632), abs=1e-4)
    assert euler.level_label == "Euler Ancestral" and euler.factor_label == "Sampler"
    assert not euler.descriptive and euler.votes_needed == 194 - 8
    assert ("sampler", "dpmpp_2m") not in rows  # no votes yet
    assert {r.factor for r in report.rows} == {"sampler"}  # CFG is the same everywhere
    both = {(r.factor, r.level): r for r in reports.study_win_rates(study=study).rows}
    assert both[("sampler", "euler_a")].votes == 16
    assert both[("sampler", "euler_a")].win_rate == pytest.approx((5 + 8 / 2) / 16)
    assert (both[("sampler", "euler_a")].ci_low, both[("sampler", "euler_a")].ci_high) == (
        pytest.approx(wilson_interval(9, 16))
    )


def test_reports_recompute_after_new_votes_and_exclusions() -> None:
    study, comps, crit = launched(n_configs=2)
    (comp,) = comps
    r1, r2 = rater(), rater()
    vote(comp, r1, crit, "a")
    first = reports.study_win_rates(study=study, criterion=crit)
    assert first.judgments == 1
    vote(comp, r2, crit, "b")
    assert reports.study_win_rates(study=study, criterion=crit).judgments == 2
    rater_exclude(study=study, rater=r2, actor=researcher())
    assert reports.study_win_rates(study=study, criterion=crit).judgments == 1
    rater_restore(study=study, rater=r2)
    assert reports.study_win_rates(study=study, criterion=crit).judgments == 2


def test_reports_recompute_when_a_vote_is_replaced_edited_or_cascaded_away() -> None:
    study, comps, crit = launched(n_configs=2)
    (comp,) = comps
    r1, r2 = rater(), rater()

    def wins() -> tuple[float, ...]:
        row = reports.study_win_rates(study=study, criterion=crit).rows[0]
        return (row.wins, row.losses, row.ties)

    vote(comp, r1, crit, "a")
    replaced = vote(comp, r2, crit, "a")
    before = wins()
    assert sorted(before[:2]) == [0, 2]
    # Same number of judgments, a different answer (an undo, then a new vote).
    replaced.delete()
    vote(comp, r2, crit, "b")
    assert wins()[:2] == (1, 1)
    # Edited in place (the admin): the version moves though no row was added or removed.
    Judgment.objects.filter(rater=r2).update(outcome="tie", winner=None)
    assert wins()[2] == 1
    # Deleting a rater cascades their judgments away; the triggers must not get in the way.
    r2_id = r2.pk
    r2.delete()
    assert reports.study_win_rates(study=study, criterion=crit).judgments == 1
    tally = VoteTally.objects.filter(study_id=study.pk)
    assert tally.get(rater_id=r1.pk).changes == 1
    # insert, delete, insert, update (its old and its new row: two), delete
    assert tally.get(rater_id=r2_id).changes == 6


def test_study_leaderboard_ranks_configs_and_reports_counts() -> None:
    study, comps, crit = launched(n_configs=3)
    configs = sorted(study.configs.values_list("id", flat=True))
    strong, middle, weak = configs[1], configs[0], configs[2]
    users = [rater() for _ in range(6)]
    for user in users:
        for winner, loser in ((strong, middle), (strong, weak), (middle, weak)):
            comp = by_configs(comps, winner, loser)
            vote(comp, user, crit, "a" if comp.image_a.config_id == winner else "b")
    board = reports.study_leaderboard(study=study, criterion=crit, n_boot=30)
    assert [r.config_id for r in board.rows] == [strong, middle, weak]
    assert board.judgments == 18 and board.raters == 6 and board.prompts == 1
    top = board.rows[0]
    assert top.rank == 1 and top.ci_low <= top.strength <= top.ci_high
    # Six raters, 18 unanimous votes: a clear favourite, but not a certainty (P(best) < 1).
    assert 0.9 < top.p_best < 1.0 and top.judgments == 12
    assert board.estimand == "these_raters" and "from 10 raters" in board.estimand_note
    assert board.baseline_id == configs[0]
    assert board.rows[1].p_vs_baseline is None  # the baseline itself
    assert top.p_vs_baseline is not None and top.p_vs_baseline > 0.9


def test_study_leaderboard_empty_study() -> None:
    study, _, crit = launched(n_configs=2)
    board = reports.study_leaderboard(study=study, criterion=crit, n_boot=10)
    assert board.rows == [] and board.judgments == 0


def test_study_factor_effects_reference_is_the_baseline_and_position_bias() -> None:
    study, comps, crit = launched(n_configs=3)
    users = [rater() for _ in range(20)]
    for user in users:
        for comp in comps:
            vote(comp, user, crit, "a", left="a")  # whatever is on the left wins
    report = reports.study_factor_effects(study=study, criterion=crit)
    baseline_sampler = study.baseline.sampler
    assert {r.reference for r in report.rows} == {baseline_sampler}
    assert {r.level for r in report.rows} == {"ddim", "dpmpp_2m"}
    assert report.position_bias is not None and report.position_bias > 2
    assert report.p_left is not None and report.p_left > 0.9
    assert report.judgments == 60


def test_study_raters_quality_alpha_and_exclusion() -> None:
    study, comps, crit = launched(n_configs=3)
    aesthetic = study.criteria.get(key="modern_aesthetic")
    panel = [rater(username=f"panel{i}") for i in range(3)]
    lefty = rater(username="lefty")
    for user in panel:
        for comp in comps:
            vote(comp, user, crit, "a", left="b" if comp.pk % 2 else "a")
            vote(comp, user, aesthetic, "b")
    for comp in comps:
        vote(comp, lefty, crit, "b", left="b", ms=300)
        vote(comp, lefty, crit, "a", left="a", repeat=True)
    gold = comps[0]
    Comparison.objects.filter(pk=gold.pk).update(is_gold=True, gold_winner=gold.image_a)
    report = reports.study_raters(study=study)
    rows = {r.username: r for r in report.rows}
    assert rows["lefty"].judgments == 3 and rows["lefty"].left_rate == 1.0
    assert rows["lefty"].flip_rate == 1.0 and rows["lefty"].repeats == 3
    assert rows["lefty"].gold == 1 and rows["lefty"].gold_accuracy == 0.0
    assert rows["lefty"].agreement == 0.0 and rows["lefty"].median_ms == 300
    assert "too fast" in rows["lefty"].flags
    # The gold pair's known winner is image a: right on adherence, wrong on aesthetic.
    assert rows["panel0"].judgments == 6 and rows["panel0"].gold_accuracy == 0.5
    assert rows["panel0"].agreement == 1.0 and rows["panel0"].agreement_n == 6
    alpha = {a.criterion: a for a in report.alpha}
    assert alpha["modern_aesthetic"].alpha is None  # everyone said b: α undefined
    assert alpha["prompt_adherence"].units == 3
    assert alpha["prompt_adherence"].alpha is not None and alpha["prompt_adherence"].alpha < 0.5
    assert report.self_agreement == 0.0

    rater_exclude(study=study, rater=lefty, actor=researcher())
    after = reports.study_raters(study=study)
    rows = {r.username: r for r in after.rows}
    assert rows["lefty"].excluded and after.excluded == 1
    assert after.rows[-1].username == "lefty"  # excluded raters listed last
    # Without lefty everyone agrees on one category: α is undefined, not 1.
    assert {a.criterion: a.alpha for a in after.alpha}["prompt_adherence"] is None
    assert rows["panel0"].agreement == 1.0
    assert after.self_agreement is None


def test_study_pair_tallies_filters_by_config_and_outcome() -> None:
    study, comps, crit = launched(n_configs=3)
    user, other = rater(), rater()
    vote(comps[0], user, crit, "a")
    vote(comps[0], other, crit, "b")
    vote(comps[1], user, crit, "tie")
    tallies = reports.study_pair_tallies(study=study, criterion=crit)
    page = tallies[0:24]
    assert len(tallies) == 2 and [p.comparison.pk for p in page] == [comps[0].pk, comps[1].pk]
    assert tallies[1] == page[1]
    assert (page[0].a_wins, page[0].b_wins, page[1].ties) == (1, 1, 1)
    assert len(reports.study_pair_tallies(study=study, outcome="tie")) == 1
    assert len(reports.study_pair_tallies(study=study, outcome="split")) == 1
    assert len(reports.study_pair_tallies(study=study, outcome="both_bad")) == 0
    c2 = comps[2].image_a.config_id
    in_config = list(reports.study_pair_tallies(study=study, config_id=c2))
    assert all(c2 in (p.config_a, p.config_b) for p in in_config)


def test_study_configs_levels_and_varying_factors() -> None:
    study, _, _ = launched(n_configs=3)
    configs = reports.study_configs(study=study)
    assert len(configs) == 3
    info = next(iter(configs.values()))
    assert info.levels["adapters"] == reports.NO_ADAPTER and info.levels["size"] == "256×256"
    assert info.params["adapters"] == [] and info.params["steps"] == 4
    varying = reports.varying_levels(configs)
    assert all(set(levels) == {"sampler"} for levels in varying.values())


def test_criterion_for_unknown_key() -> None:
    study, _, _ = launched(n_configs=2)
    assert reports.criterion_for(study=study, key="") is None
    with pytest.raises(Criterion.DoesNotExist):
        reports.criterion_for(study=study, key="nope")


def test_study_votes_read_matches_the_orm_row_for_row() -> None:
    """int_rows (binary COPY on PostgreSQL, tuples elsewhere) gives the ORM's integers exactly."""
    from ratings.reports.int_rows import int_rows

    study, comps, crit = launched(n_configs=3)
    users = [rater() for _ in range(3)]
    for i, comp in enumerate(comps):
        for j, user in enumerate(users):
            vote(comp, user, crit, ("a", "b", "tie", "both_bad")[(i + j) % 4], ms=1000 + i + j)
    rows = Judgment.objects.filter(comparison__study=study).order_by("id")
    fields = ("id", "comparison_id", "rater_id", "criterion_id", "response_ms")
    got = int_rows(rows.values_list(*fields), len(fields))
    assert got.dtype == np.int64 and got.shape == (len(comps) * 3, 5)
    assert got.tolist() == [list(r) for r in rows.values_list(*fields)]
    assert int_rows(rows.filter(pk=-1).values_list(*fields), len(fields)).shape == (0, 5)
    # A NULL would shift every value after it: refused, not misread.
    Judgment.objects.filter(pk=rows[0].pk).update(response_ms=None)
    with pytest.raises((ValueError, TypeError)):
        int_rows(rows.values_list(*fields), len(fields))


def test_vote_tally_backfill_counts_what_the_triggers_kept() -> None:
    import importlib

    from django.db import connection

    study, comps, crit = launched(n_configs=3)
    users = [rater() for _ in range(3)]
    for i, comp in enumerate(comps):
        for user in users[: i + 1]:
            vote(comp, user, crit, "a")
    kept = sorted(VoteTally.objects.values_list("study_id", "rater_id", "changes"))
    assert kept == sorted((study.pk, u.pk, Judgment.objects.filter(rater=u).count()) for u in users)
    VoteTally.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(importlib.import_module("ratings.migrations.0006_vote_tally").BACKFILL)
    assert sorted(VoteTally.objects.values_list("study_id", "rater_id", "changes")) == kept


def test_study_dashboard_pages_the_pairs_with_django_paginator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ratings.reports import dashboard

    study, comps, crit = launched(n_configs=3)
    monkeypatch.setattr(dashboard, "PAIRS_PER_PAGE", 2)
    first = dashboard.study_dashboard(study=study, outcome="all")
    assert (first["pair_total"], first["pair_page"], first["pair_pages"]) == (3, 1, 2)
    assert [c["pair"].comparison.pk for c in first["pair_cards"]] == [comps[0].pk, comps[1].pk]
    # A page past the end, or not a number, is the last or the first page (Paginator.get_page).
    last = dashboard.study_dashboard(study=study, outcome="all", page="9")
    assert last["pair_page"] == 2 and [c["pair"].comparison.pk for c in last["pair_cards"]] == [
        comps[2].pk
    ]
    assert dashboard.study_dashboard(study=study, outcome="all", page="x")["pair_page"] == 1
    vote(comps[1], rater(), crit, "a")
    judged = dashboard.study_dashboard(study=study, criterion_key=crit.key)
    assert judged["criterion"] == crit and judged["pair_total"] == 1 and judged["pair_pages"] == 1
