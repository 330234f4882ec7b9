"""The rating path's reads stay few and constant; behaviour, not timing.

Timings live in bench/rate_load.py. Here: the number of queries of a vote that returns the next
pair, that it does not grow with the study's presentations, and that the per-pair exposure
count the triggers keep (PairExposure) is exactly the count it replaces.
"""

from __future__ import annotations

import importlib
import random
import re
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.test import Client

from ratings.models import Comparison, PairExposure, Presentation, Study
from ratings.pairs import rater_shown, ready_pairs
from ratings.progress import rater_progress
from ratings.rater_sql import criteria_of, deal_state, rater_study
from ratings.services.judging import deck_deal, judgments_record, presentation_skip
from tests.factories import rater, ready_study

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}

# A vote with htmx that answers with the next pair, counted as the test client sees it (the
# view's transaction is a savepoint inside the test's, so it counts 2 more than in production):
#   session, user                                        2  (as any signed-in page)
#   study + criteria + access check                      1
#   savepoint (the view's transaction, joined by the vote) 1
#   presentation locked; judgments; answered_at          3  (2 on PostgreSQL: one statement)
#   the rater's presentations; the study's pairs         2
#   new presentation (no savepoint: ON CONFLICT)         1
#   both cards (prompt, images); shown_at of the current 2  (1 on PostgreSQL)
#   release                                              1
# Exact per database: 13 on SQLite, 11 on PostgreSQL.
VOTE_AND_NEXT_QUERIES = {"sqlite": 13, "postgresql": 11}
# The API's next pair once both pairs are dealt: session, user, the permission check, study +
# criteria, the deal's two reads, both cards and shown_at (one statement on PostgreSQL).
API_NEXT_QUERIES = {"sqlite": 8, "postgresql": 7}


def _exposure_is_exact() -> None:
    counted = dict(
        Comparison.objects.annotate(
            n=Count(
                "presentations",
                filter=Q(presentations__is_repeat=False, presentations__skipped_at__isnull=True),
            )
        ).values_list("pk", "n")
    )
    kept = dict(PairExposure.objects.values_list("comparison_id", "shown"))
    assert {pk: kept.get(pk, 0) for pk in counted} == counted
    assert set(kept) <= set(counted)


def _presentation_id(html: str) -> int:
    match = re.search(r'data-presentation="(\d+)"', html)
    assert match, html
    return int(match.group(1))


def _vote(client: Client, study: Study, keys: list[str], html: str) -> str:
    data = {"presentation": _presentation_id(html), "response_ms": "1500"}
    data |= {f"c-{key}": "left" for key in keys}
    response = client.post(f"/rate/{study.pk}/vote/", data, **HX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Vote recorded." in page
    return page


def test_vote_and_next_pair_take_a_fixed_number_of_queries(
    client: Client, django_assert_num_queries: Any
) -> None:
    study = ready_study(n_configs=5, n_prompts=2)  # 20 comparisons
    client.force_login(rater())
    keys = [c.key for c in study.criteria.all()]
    html = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    # The first vote on a connection also PREPAREs its statements on PostgreSQL (two more).
    html = _vote(client, study, keys, html)
    for _ in range(3):
        with django_assert_num_queries(VOTE_AND_NEXT_QUERIES[connection.vendor]):
            html = _vote(client, study, keys, html)
    # Others' presentations do not add queries: "fewest first" reads one count per pair.
    others = [rater() for _ in range(12)]
    for person in others:
        for _ in range(4):
            deck = deck_deal(rater=person, study=study)
            assert deck.current is not None
            judgments_record(
                rater=person,
                presentation_id=deck.current.pk,
                votes={c.key: "tie" for c in study.criteria.all()},
            )
    for _ in range(3):
        with django_assert_num_queries(VOTE_AND_NEXT_QUERIES[connection.vendor]):
            html = _vote(client, study, keys, html)


def test_api_next_takes_a_fixed_number_of_queries(
    client: Client, django_assert_num_queries: Any
) -> None:
    study = ready_study(n_configs=4)
    client.force_login(rater())
    assert client.get(f"/api/rate/next/?study={study.pk}").status_code == 200
    with django_assert_num_queries(API_NEXT_QUERIES[connection.vendor]):
        body = client.get(f"/api/rate/next/?study={study.pk}").json()
    assert body["presentation"] is not None and body["upcoming"] is not None


def test_pair_exposure_counts_first_unskipped_presentations_whatever_writes_them() -> None:
    study = ready_study(n_configs=4, n_prompts=2)  # 12 comparisons
    people = [rater() for _ in range(4)]
    _exposure_is_exact()
    rng = random.Random(5)
    for person in people:
        for _ in range(3):
            deck = deck_deal(rater=person, study=study, rng=rng)
            assert deck.current is not None
            judgments_record(
                rater=person,
                presentation_id=deck.current.pk,
                votes={c.key: "left" for c in study.criteria.all()},
            )
    _exposure_is_exact()
    # Skipping takes a pair back; a swapped-sides repeat does not count.
    pending = deck_deal(rater=people[0], study=study).current
    assert pending is not None
    presentation_skip(rater=people[0], presentation_id=pending.pk)
    answered = Presentation.objects.filter(rater=people[1], answered_at__isnull=False).first()
    assert answered is not None
    Presentation.objects.create(
        comparison_id=answered.comparison_id,
        rater=people[1],
        left_id=answered.left_id,
        is_repeat=True,
    )
    _exposure_is_exact()
    # Writes outside the services: a bulk insert, an edit, a queryset update, deletes.
    newcomer = rater()
    free = Comparison.objects.filter(study=study).exclude(presentations__rater=newcomer)[:3]
    Presentation.objects.bulk_create(
        Presentation(comparison=c, rater=newcomer, left_id=c.image_a_id) for c in free
    )
    moved = Presentation.objects.filter(rater=newcomer).first()
    assert moved is not None
    elsewhere = (
        Comparison.objects.filter(study=study)
        .exclude(presentations__rater=newcomer)
        .values_list("pk", flat=True)
        .first()
    )
    moved.comparison_id = elsewhere
    moved.save()
    Presentation.objects.filter(rater=people[2]).update(skipped_at=pending.shown_at)
    _exposure_is_exact()
    Presentation.objects.filter(rater=people[3]).first().delete()  # type: ignore[union-attr]
    people[1].delete()  # cascades to the rater's presentations
    _exposure_is_exact()


def test_migration_backfill_counts_what_was_there() -> None:
    study = ready_study(n_configs=3)
    for person in [rater() for _ in range(3)]:
        deck_deal(rater=person, study=study)
    migration = importlib.import_module("ratings.migrations.0004_perf")
    PairExposure.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL, [False])
    _exposure_is_exact()


def test_deal_state_is_the_two_reads_in_one() -> None:
    study = ready_study(n_configs=4, n_prompts=2)
    person = rater()
    for _ in range(3):
        deck = deck_deal(rater=person, study=study)
        assert deck.current is not None
        judgments_record(
            rater=person,
            presentation_id=deck.current.pk,
            votes={c.key: "right" for c in study.criteria.all()},
        )
    skipped = deck_deal(rater=person, study=study).current
    assert skipped is not None
    presentation_skip(rater=person, presentation_id=skipped.pk)
    deck = deck_deal(rater=rater(), study=study)  # someone else's pairs count too
    shown, pairs = deal_state(study=study, rater=person)
    assert shown == rater_shown(study=study, rater=person)
    assert pairs == ready_pairs(study=study)
    assert [row.presentation_id for row in shown] == sorted(row.presentation_id for row in shown)
    # The progress a deal reports is the one rater_progress counts on its own.
    dealt = deck_deal(rater=person, study=study)
    assert dealt.progress == rater_progress(study=study, rater=person)


def test_rater_study_checks_access_and_brings_the_criteria_in_one_query(
    django_assert_num_queries: Any,
) -> None:
    study = ready_study(n_configs=2, open_to_raters=False)
    person = rater()
    assert rater_study(user=person, study_id=study.pk) is None
    study.raters.add(person)
    with django_assert_num_queries(1):
        found = rater_study(user=person, study_id=study.pk)
        assert found is not None and found.pk == study.pk
        assert [c.key for c in criteria_of(found)] == ["prompt_adherence", "modern_aesthetic"]
    study.excluded_raters.add(person)
    assert rater_study(user=person, study_id=study.pk) is None
    study.excluded_raters.remove(person)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    assert rater_study(user=person, study_id=study.pk) is None


def test_deal_pairs_copy_counts_own_presentations_and_refreshes_after_its_time(
    settings: Any, django_assert_num_queries: Any
) -> None:
    from ratings.rater_sql import deal

    settings.LOUPE_DEAL_PAIRS_SECONDS = 60
    deal._held_pairs.clear()
    study = ready_study(n_configs=4)  # 6 comparisons
    first = rater()
    _, pairs = deal_state(study=study, rater=first)
    assert pairs == ready_pairs(study=study)
    # Held: the next deal reads only the rater's own presentations.
    with django_assert_num_queries(1):
        deal_state(study=study, rater=first)
    # This process's presentations are counted in the held copy as the trigger counts them.
    deck = deck_deal(rater=first, study=study)
    assert deck.current is not None and deck.upcoming is not None
    _, held = deal_state(study=study, rater=first)
    assert held == ready_pairs(study=study)
    assert sum(c.shown for c in held) == 2
    # What the process did not see (a pair made gold) arrives with the next read.
    Comparison.objects.filter(study=study).update(is_gold=True)
    _, stale = deal_state(study=study, rater=first)
    assert not any(c.is_gold for c in stale)
    settings.LOUPE_DEAL_PAIRS_SECONDS = 0.000001
    _, fresh = deal_state(study=study, rater=first)
    assert all(c.is_gold for c in fresh) and fresh == ready_pairs(study=study)
    deal._held_pairs.clear()


@pytest.mark.django_db(transaction=True)
def test_rating_statements_are_prepared_once_per_connection(client: Client) -> None:
    """On PostgreSQL each statement is planned once per connection (PREPARE), then EXECUTEd;
    a new connection prepares afresh. Elsewhere the statements run as they are."""
    from django.test.utils import CaptureQueriesContext

    study = ready_study(n_configs=3)
    client.force_login(rater())
    keys = [c.key for c in study.criteria.all()]
    html = client.get(f"/rate/{study.pk}/?go=1", **HX).content.decode()
    html = _vote(client, study, keys, html)
    with CaptureQueriesContext(connection) as again:
        html = _vote(client, study, keys, html)
    sqls = [q["sql"] for q in again.captured_queries]
    if connection.vendor != "postgresql":
        assert not any(s.startswith(("PREPARE", "EXECUTE")) for s in sqls)
        return
    assert not any(s.startswith("PREPARE") for s in sqls)
    # Inside the vote's transaction an EXECUTE rides with a SAVEPOINT (ratings.statements).
    assert sum("EXECUTE loupe_" in s for s in sqls) >= 6
    # A new connection (CONN_MAX_AGE, a dropped one) has nothing prepared: it prepares again.
    connection.close()
    with CaptureQueriesContext(connection) as reconnected:
        _vote(client, study, keys, html)
    assert any(q["sql"].startswith("PREPARE loupe_") for q in reconnected.captured_queries)


def test_plain_orm_reads_give_what_the_compiled_reads_give(client: Client) -> None:
    """bench/rate_load.py --orm runs the same views with plain querysets (plain_orm): the
    pages and what the reads return are the same; only the work behind them differs."""
    from django.utils import timezone

    from ratings.rater_sql import cards, presentation_for_vote
    from ratings.statements import plain_orm

    study = ready_study(n_configs=3)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None and deck.upcoming is not None
    ids = [deck.current.pk, deck.upcoming.pk]
    fast = (
        rater_study(user=person, study_id=study.pk),
        deal_state(study=study, rater=person),
        cards(ids),
        presentation_for_vote(rater=person, presentation_id=ids[0]),
    )
    with plain_orm():
        plain = (
            rater_study(user=person, study_id=study.pk),
            deal_state(study=study, rater=person),
            cards(ids),
            presentation_for_vote(rater=person, presentation_id=ids[0]),
        )
        stamped = cards(ids, on_screen_at=timezone.now())
    assert fast[0] == plain[0] and fast[0] is not None and plain[0] is not None
    assert criteria_of(fast[0]) == criteria_of(plain[0])
    assert fast[1] == plain[1] and fast[2] == plain[2] == stamped
    assert fast[3] is not None and plain[3] is not None
    assert fast[3].pk == plain[3].pk and fast[3].comparison_id == plain[3].comparison_id
    client.force_login(person)
    html = client.get(f"/rate/{study.pk}/?go=1", **HX).content.decode()
    keys = [c.key for c in study.criteria.all()]
    with plain_orm():
        assert "Vote recorded." in _vote(client, study, keys, html)
