"""List pages and list APIs read a fixed number of queries, however many rows they list.

Each route is read once over one of everything (a pairwise study with votes, a series study,
a checklist study, a best-of-N study, a team member, an invite, an API token), then again over
two: the counts must be equal. A route that runs a query per row fails here by name.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.services import api_token_create, invite_create
from generation.models import Image
from ratings.models import ChecklistAnswer, Comparison, Judgment, Presentation, Study
from ratings.progress import rater_progress, raters_progress
from ratings.selectors import studies_for_rater, studies_overview, study_render_progress
from tests.factories import (
    answered_checklist_study,
    rater,
    ready_checklist_study,
    ready_study,
    rerank_ready_study,
    researcher,
    series_over,
    vote,
)

pytestmark = pytest.mark.django_db

RESEARCHER_ROUTES = [
    "home",
    "prompt-list",
    "adapter-list",
    "config-list",
    "series-list",
    "team",
    "api-tokens",
    "api-prompt-list",
    "api-adapter-list",
    "api-config-list",
    "api-image-list",
    "api-series-list",
    "api-study-list",
    "api-rerank-list",
    "api-team-raters",
    "api-team-invites",
]
RATER_ROUTES = ["home", "rate-home"]


def _one_of_everything(n: int, lead: Any, judge: Any) -> None:
    study = ready_study(name=f"pairwise {n}")
    for comparison in Comparison.objects.filter(study=study):
        for criterion in study.criteria.all():
            vote(comparison, judge, criterion, "a")
    series_over(ready_study(name=f"series {n}"))
    ready_checklist_study(name=f"checklist {n}")
    rerank_ready_study(name=f"best of {n}", votes_by=0)
    rater(username=f"member{n}")
    invite_create(actor=lead)
    api_token_create(user=lead, name=f"token {n}")


def _counts(client: Client, names: list[str]) -> dict[str, int]:
    out = {}
    for name in names:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse(name))
        assert response.status_code == 200, (name, response.status_code)
        out[name] = len(queries)
    return out


def test_list_routes_do_not_run_a_query_per_row() -> None:
    lead = researcher(username="lead")
    judge = rater(username="judge")
    research, rating = Client(), Client()
    research.force_login(lead)
    rating.force_login(judge)
    _one_of_everything(1, lead, judge)
    once = {**_counts(research, RESEARCHER_ROUTES)}
    once_rater = _counts(rating, RATER_ROUTES)
    _one_of_everything(2, lead, judge)
    twice = _counts(research, RESEARCHER_ROUTES)
    twice_rater = _counts(rating, RATER_ROUTES)
    grown = {n: (once[n], twice[n]) for n in once if twice[n] != once[n]}
    grown_rater = {
        n: (once_rater[n], twice_rater[n]) for n in once_rater if twice_rater[n] != once_rater[n]
    }
    assert not grown and not grown_rater, (grown, grown_rater)


def test_the_batched_reads_agree_with_the_per_study_ones() -> None:
    judge = rater(username="judge")
    _one_of_everything(1, researcher(username="lead"), judge)
    answered_checklist_study(raters=1, name="answered checklist")
    Image.objects.filter(pk=Image.objects.order_by("pk").values("pk")[:1]).update(
        status=Image.Status.FAILED
    )
    # The factory's votes leave their presentations unstamped; the rating screen stamps them.
    Presentation.objects.filter(rater=judge).update(answered_at=timezone.now())
    rows = studies_overview()
    assert len(rows) == Study.objects.count() == 5
    for row in rows:
        single = study_render_progress(study_id=row.study.pk)
        assert (row.progress.done, row.progress.failed, row.progress.total) == (
            single.done,
            single.failed,
            single.total,
        )
        assert row.comparisons == Comparison.objects.filter(study=row.study).count()
        assert row.judgments == Judgment.objects.filter(comparison__study=row.study).count()
        assert row.answers == ChecklistAnswer.objects.filter(study=row.study).count()
    assert sum(r.progress.failed for r in rows) >= 1
    assert sum(r.judgments for r in rows) > 0 and sum(r.answers for r in rows) > 0
    mine = raters_progress(studies=studies_for_rater(user=judge), rater=judge)
    assert {p.study.kind for p in mine} >= {"pairwise", "checklist"}
    for progress in mine:
        one = rater_progress(study=progress.study, rater=judge)
        assert (progress.ready, progress.judged) == (one.ready, one.judged)
    assert any(p.judged for p in mine)
