"""Schemathesis over /api/schema/, in process against the WSGI app: no operation answers 5xx.

The schema is read from /api/schema/ as a researcher (token auth) and every operation is
exercised with schemathesis' coverage phase (boundary and wrong-type values, missing and
extra fields, odd content types: deterministic) and its fuzzing phase (hypothesis,
derandomized). As a researcher, path ids point at rows that exist (so updates, launches
and analyses run for real) except in the cases that vary the path itself; as a rater, the
rater's own endpoints get the same treatment and every other operation a short fuzz (they
answer 403 before reading anything). Each request runs in a savepoint that is rolled back,
so a DELETE or a launch does not change what the next case sees.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import got_request_exception, request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case

from accounts.services import invite_create
from generation.models import Image, ImageScore, LoraAdapter
from ratings.models import Study
from ratings.rerank.services import rerank_study_create
from ratings.services.judging import deck_deal
from tests.factories import (
    PromptFactory,
    make_config,
    rater,
    ready_study,
    researcher,
    series_over,
)

pytestmark = pytest.mark.django_db

# Fuzzing-phase examples per operation; the coverage phase adds its own fixed set.
FUZZ = hypothesis.settings(
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
RATER_ELSEWHERE = hypothesis.settings(FUZZ, max_examples=3, phases=[Phase.generate])


@dataclass
class World:
    """The rows that fixed path ids point at, and a token per role."""

    ids: dict[str, int]
    tokens: dict[str, str]

    def path_ids(self, case: Case) -> dict[str, int]:
        fixed: dict[str, int] = {}
        for name in case.path_parameters or {}:
            if name == "id":  # /api/<resource>/{id}/...
                fixed[name] = self.ids[case.operation.path.split("/")[2]]
            elif name in self.ids:
                fixed[name] = self.ids[name]
        return fixed


@pytest.fixture
def world(settings: Any) -> World:
    # The vote rate limit would answer 429 before the fuzzed bodies reach validation.
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 0
    boss = researcher(username="fuzz-researcher")
    judge = rater(username="fuzz-rater")
    study = ready_study(n_configs=3, name="Fuzzed study")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    deck_deal(rater=judge, study=study)  # a presentation issued to the rater
    adapter = LoraAdapter.objects.create(
        name="fuzz-adapter", weights="/nonexistent/a.safetensors", sha256="0" * 64
    )
    image = Image.objects.filter(config__studies=study).first()
    assert image is not None
    ImageScore.objects.create(image=image, metric="checklist:fuzz", value=0.5, model_path="-")
    best_of = rerank_study_create(
        name="Fuzzed best of four", config=image.config, prompts=[image.prompt], candidates=4,
        scorers=["checklist:fuzz"],
    )  # fmt: skip
    return World(
        ids={
            "prompts": PromptFactory().pk,
            "configs": make_config(sampler="heun", name="Fuzz config").pk,
            "adapters": adapter.pk,
            "images": image.pk,
            "studies": study.pk,
            "rerank-studies": best_of.pk,
            "series": series_over(study).pk,
            "study_id": study.pk,
            "rater_id": judge.pk,
            "user_id": judge.pk,
            "invite_id": invite_create(actor=boss).invite.pk,
        },
        tokens={
            "researcher": Token.objects.create(user=boss).key,
            "rater": Token.objects.create(user=judge).key,
        },
    )


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """What Django's test client does too: without it the WSGI handler closes the test
    transaction's connection after each request (it is not in autocommit)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def server_errors() -> Iterator[list[str]]:
    """Tracebacks of the exceptions the app turned into 500s, to show beside a failure."""
    seen: list[str] = []

    def record(sender: Any, request: Any = None, **kwargs: Any) -> None:
        seen.append(traceback.format_exc())

    got_request_exception.connect(record)
    try:
        yield seen
    finally:
        got_request_exception.disconnect(record)


@pytest.fixture
def api_schema(world: World, keep_connection: None) -> Any:
    return schemathesis.openapi.from_wsgi(
        "/api/schema/",
        WSGIHandler(),
        headers={"Authorization": f"Token {world.tokens['researcher']}"},
    )


schema = schemathesis.pytest.from_fixture("api_schema")


def _varies_path(case: Case) -> bool:
    data = case.meta.phase.data if case.meta is not None else None
    return getattr(data, "parameter_location", None) == "path"


def _check(case: Case, token: str, errors: list[str]) -> None:
    """One request in a savepoint, rolled back; a 5xx fails with the app's traceback."""
    before = len(errors)
    with transaction.atomic():
        response = case.call(headers={"Authorization": f"Token {token}"})
        transaction.set_rollback(True)
    try:
        case.validate_response(response, checks=[not_a_server_error])
    except BaseExceptionGroup as failure:
        raise AssertionError("".join(errors[before:])[-4000:]) from failure


def _exercise(case: Case, world: World, role: str, errors: list[str]) -> None:
    token = world.tokens[role]
    fixed = world.path_ids(case)
    if fixed and not _varies_path(case):
        if case.meta is None or case.meta.phase.name != "coverage":
            _check(case, token, errors)  # fuzzing: the generated ids too
        case.path_parameters = {**case.path_parameters, **fixed}
    if case.operation.path == "/api/rate/next/" and case.query and "study" in case.query:
        if not _varies_query(case):
            case.query = {**case.query, "study": world.ids["studies"]}
    _check(case, token, errors)


def _varies_query(case: Case) -> bool:
    data = case.meta.phase.data if case.meta is not None else None
    return getattr(data, "parameter_location", None) == "query"


@schema.parametrize()
@FUZZ
def test_api_answers_no_5xx_to_a_researcher(
    case: Case, world: World, server_errors: list[str]
) -> None:
    _exercise(case, world, "researcher", server_errors)


@schema.include(path_regex="^/api/rate/").parametrize()
@FUZZ
def test_rater_endpoints_answer_no_5xx_to_a_rater(
    case: Case, world: World, server_errors: list[str]
) -> None:
    _exercise(case, world, "rater", server_errors)


@schema.exclude(path_regex="^/api/rate/").parametrize()
@RATER_ELSEWHERE
def test_researcher_endpoints_answer_no_5xx_to_a_rater(
    case: Case, world: World, server_errors: list[str]
) -> None:
    _exercise(case, world, "rater", server_errors)
