"""The one rater access rule (ratings.selectors) and the callers that must agree with it."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest
from django.contrib.auth.models import Group

from ratings.models import Study
from ratings.rater_sql import rater_study
from ratings.selectors import (
    access_by_user,
    rater_may_judge,
    studies_accessible_by,
    studies_for_rater,
)
from tests.factories import make_study, rater

pytestmark = pytest.mark.django_db


def test_rater_may_judge_named_or_grouped_and_not_excluded() -> None:
    study = make_study(n_configs=2)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    named, grouped, outsider = rater(), rater(), rater()
    team = Group.objects.create(name="panel")
    grouped.groups.add(team)
    study.raters.add(named)
    study.rater_groups.add(team)
    assert rater_may_judge(user=named, study_id=study.pk)
    assert rater_may_judge(user=grouped, study_id=study.pk)
    assert not rater_may_judge(user=outsider, study_id=study.pk)
    study.excluded_raters.add(grouped)
    assert not rater_may_judge(user=grouped, study_id=study.pk)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    assert not rater_may_judge(user=named, study_id=study.pk)
    assert rater_may_judge(user=named, study_id=study.pk, closed_too=True)


def _every_case() -> list[tuple[tuple[str, bool, bool, bool], Study, Any]]:
    """A study and a rater for every combination that decides access: the study's status,
    and whether the rater is named, in one of its rater groups, excluded."""
    team = Group.objects.create(name="panel")
    made = []
    for case in product(Study.Status.values, (False, True), (False, True), (False, True)):
        status, named, grouped, excluded = case
        study = make_study(n_configs=2)
        Study.objects.filter(pk=study.pk).update(status=status)
        person = rater()
        if named:
            study.raters.add(person)
        if grouped:
            person.groups.add(team)
            study.rater_groups.add(team)
        if excluded:
            study.excluded_raters.add(person)
        made.append((case, study, person))
    return made


def test_rater_study_sql_agrees_with_the_rule_in_every_case() -> None:
    # rater_sql.rater_study is the rating page's one-query copy of the rule: the ORM rule
    # (studies_for_rater) is its oracle over every combination that decides access.
    for case, study, person in _every_case():
        for closed_too in (False, True):
            expected = studies_for_rater(user=person, closed_too=closed_too).filter(pk=study.pk)
            found = rater_study(user=person, study_id=study.pk, closed_too=closed_too)
            assert (found is not None) == expected.exists(), case


def test_access_by_user_agrees_with_the_rule_for_many_users_at_once() -> None:
    # The team page asks the rule for everyone in one go; per user it must give what
    # studies_accessible_by gives, in every combination that decides access.
    people = [person for _, _, person in _every_case()]
    found = access_by_user(user_ids=[p.pk for p in people])
    for person in people:
        expected = set(studies_accessible_by(user=person).values_list("pk", flat=True))
        assert found[person.pk] == expected
    assert any(found.values()), "the cases must include someone with access"


def test_access_by_user_asks_a_fixed_number_of_queries(django_assert_num_queries) -> None:
    study = make_study(n_configs=2)
    team = Group.objects.create(name="panel")
    study.rater_groups.add(team)
    few = [rater() for _ in range(2)]
    many = [rater() for _ in range(12)]
    for person in few + many:
        person.groups.add(team)
    with django_assert_num_queries(3):
        access_by_user(user_ids=[p.pk for p in few])
    with django_assert_num_queries(3):
        found = access_by_user(user_ids=[p.pk for p in many])
    assert all(ids == {study.pk} for ids in found.values())


def test_the_statuses_raters_may_judge_in_have_one_owner(monkeypatch: Any) -> None:
    # Study.DEALING_STATUSES and ANSWERING_STATUSES are the one owner: widen them to a
    # rendering study and the selector, the compiled SQL, the services and the page follow.
    from ratings.rater_sql import access
    from ratings.services.judging import deck_deal, presentation_skip
    from tests.factories import ready_study

    Status = Study.Status
    monkeypatch.setattr(Study, "DEALING_STATUSES", (Status.OPEN, Status.RENDERING))
    monkeypatch.setattr(Study, "ANSWERING_STATUSES", (Status.OPEN, Status.RENDERING, Status.CLOSED))
    study = ready_study(n_configs=2)
    person = rater()
    shown = deck_deal(rater=person, study=study).current
    assert shown is not None
    Study.objects.filter(pk=study.pk).update(status=Status.RENDERING)
    for closed_too in (False, True):
        assert rater_may_judge(user=person, study_id=study.pk, closed_too=closed_too)
        # The compiled read is built from the same constants (compiled afresh here: not run,
        # since PostgreSQL keeps the statement it prepared from the real ones).
        read = access._RATER_STUDY[closed_too]
        monkeypatch.setattr(read, "_compiled", {})
        constants = [value for is_value, value in read.compiled("default")[1] if not is_value]
        assert set(Study.rater_statuses(closed_too=closed_too)) <= set(constants)
        assert Status.RENDERING in constants and (Status.CLOSED in constants) is closed_too
    assert presentation_skip(rater=person, presentation_id=shown.pk).skipped_at is not None


def test_answers_only_is_a_closed_study() -> None:
    assert [s for s in Study.Status.values if Study(status=s).answers_only] == ["closed"]
    assert Study.rater_statuses() == ("open",)
    assert Study.rater_statuses(closed_too=True) == ("open", "closed")
