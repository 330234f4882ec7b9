"""Checklist answers under concurrency, on PostgreSQL (`services` tests): raters answering at
once never deadlock, and an answer locks its showing's row only."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from ratings.checklists.models import ChecklistAnswer
from ratings.checklists.services import checklist_answers_record, checklist_deal
from tests.factories import rater, ready_checklist_study

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_an_answer_locks_only_its_showing_row(settings: Any) -> None:
    # Unprepared, so the statement's text is what the database receives (a prepared one is
    # sent as EXECUTE <name>).
    settings.LOUPE_PREPARED_SQL = False
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    person = rater()
    card = checklist_deal(rater=person, study=study).current
    assert card is not None
    with CaptureQueriesContext(connection) as queries:
        checklist_answers_record(
            rater=person,
            study=study,
            showing_id=card.pk,
            answers={i.key: "yes" for i in card.items},
        )
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert len(locks) == 1
    # The image and prompt rows read with it stay unlocked: other raters' commits check
    # their foreign keys to those rows (FOR KEY SHARE), which a FOR UPDATE on them blocks.
    assert locks[0].rstrip().endswith('FOR UPDATE OF "ratings_checklistshowing"')


def test_raters_answering_at_once_all_get_recorded() -> None:
    # Few images, many raters: everyone's answers reference the same image rows.
    study = ready_checklist_study(n_configs=2, n_prompts=2)
    people = [rater() for _ in range(12)]
    start = threading.Barrier(len(people))
    failures: list[BaseException] = []

    def answer_everything(person: Any) -> None:
        try:
            start.wait(timeout=30)
            card = checklist_deal(rater=person, study=study).current
            while card is not None:
                # As the view does: the answers and the next deal in one transaction.
                with transaction.atomic():
                    checklist_answers_record(
                        rater=person,
                        study=study,
                        showing_id=card.pk,
                        answers={i.key: "no" for i in card.items},
                    )
                    card = checklist_deal(rater=person, study=study).current
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=answer_everything, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert ChecklistAnswer.objects.count() == len(people) * 4 * 4  # 4 images × 4 items
