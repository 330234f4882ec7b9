"""Who may open what: every URL pattern of the project, for each role.

The table below classifies every URL name (unnamed admin patterns by their route). A URL that
is not in the table fails the test: a new endpoint must be classified before it ships.

Allowed: 2xx, a redirect that does not lead to a login page, or an answer that shows the
request got past the permission check (400 for a bad body, 405 for a method the endpoint does
not take). Refused: anonymous visitors are sent to a login page (pages) or get 401/403 (APIs);
signed-in users get 403, or 404 where a rater's study or pair is hidden from whoever may not
judge it, or the admin login page (non-staff in the admin).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from accounts.services import api_token_create, invite_create
from generation.models import ImageScore, LoraAdapter
from ratings.checklists.models import ChecklistAnswer
from ratings.checklists.services import checklist_deal
from ratings.models import Presentation, Study
from ratings.rerank.services import rerank_study_create
from ratings.services.judging import deck_deal, judgments_record
from tests.factories import rater, ready_checklist_study, ready_study, researcher, series_over

pytestmark = pytest.mark.django_db

ANON, RATER, RESEARCHER, ADMIN = "anonymous", "rater", "researcher", "admin"
ROLES = (ANON, RATER, RESEARCHER, ADMIN)
EVERYONE = frozenset(ROLES)
SIGNED_IN = frozenset({RATER, RESEARCHER, ADMIN})
RESEARCH = frozenset({RESEARCHER, ADMIN})  # researchers group, or staff
RATE = frozenset({RATER})  # raters with access to the study (the admin has none here)
STAFF = frozenset({ADMIN})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    # POST for endpoints that refuse other methods before checking who asks (require_POST
    # outermost): a GET would answer 405 to everyone and tell nothing.
    method: str = "get"
    # The POST body, or the GET query; a value naming a fixture object becomes its id.
    data: dict[str, str] = field(default_factory=dict)


TABLE: dict[str, Rule] = {
    # --- site
    "home": Rule(SIGNED_IN),
    "healthz": Rule(EVERYONE),
    "login": Rule(EVERYONE),
    "logout": Rule(SIGNED_IN),  # POST only: a GET is 405 once past the login wall
    "api-schema": Rule(RESEARCH),
    "api-docs": Rule(RESEARCH),
    # --- generation pages
    "prompt-list": Rule(RESEARCH),
    "prompt-new": Rule(RESEARCH),
    "prompt-import": Rule(RESEARCH),
    "prompt-edit": Rule(RESEARCH),
    "adapter-list": Rule(RESEARCH),
    "config-list": Rule(RESEARCH),
    "config-new": Rule(RESEARCH),
    "config-build": Rule(RESEARCH),
    "config-detail": Rule(RESEARCH),
    "config-edit": Rule(RESEARCH),
    # --- generation API
    "api-root": Rule(RESEARCH),
    "api-prompt-list": Rule(RESEARCH),
    "api-prompt-import-csv": Rule(RESEARCH),
    "api-prompt-detail": Rule(RESEARCH),
    "api-prompt-copy": Rule(RESEARCH),
    "api-adapter-list": Rule(RESEARCH),
    "api-adapter-detail": Rule(RESEARCH),
    "api-config-list": Rule(RESEARCH),
    "api-config-build": Rule(RESEARCH),
    "api-config-detail": Rule(RESEARCH),
    "api-image-list": Rule(RESEARCH),
    "api-image-detail": Rule(RESEARCH),
    # --- study pages and API
    "study-list": Rule(RESEARCH),
    "study-new": Rule(RESEARCH),
    "study-detail": Rule(RESEARCH),
    "study-edit": Rule(RESEARCH),
    "study-launch": Rule(RESEARCH),
    "study-progress": Rule(RESEARCH),
    "study-retry": Rule(RESEARCH),
    "study-status": Rule(RESEARCH),
    "study-gold": Rule(RESEARCH),
    "api-study-list": Rule(RESEARCH),
    "api-study-detail": Rule(RESEARCH),
    "api-study-close": Rule(RESEARCH),
    "api-study-launch": Rule(RESEARCH),
    "api-study-open": Rule(RESEARCH),
    "api-study-progress": Rule(RESEARCH),
    "api-study-retry": Rule(RESEARCH),
    # --- analysis pages and API
    "study-analysis": Rule(RESEARCH),
    "study-analysis-rater": Rule(RESEARCH, "post", {"action": "neither"}),
    "api-study-win-rates": Rule(RESEARCH),
    "api-study-leaderboard": Rule(RESEARCH),
    "api-study-factor-effects": Rule(RESEARCH),
    "api-study-raters": Rule(RESEARCH),
    "api-study-metrics": Rule(RESEARCH),
    "api-study-stopping": Rule(RESEARCH),
    "api-study-rater-exclusion": Rule(RESEARCH),
    "api-study-csv": Rule(RESEARCH),
    "api-study-jsonl": Rule(RESEARCH),
    # --- decision report (page, one-file download, API)
    "study-report": Rule(RESEARCH),
    "study-report-download": Rule(RESEARCH),
    "api-study-decision": Rule(RESEARCH),
    # --- best-of-N reranking studies (pages, API)
    "rerank-new": Rule(RESEARCH),
    "rerank-detail": Rule(RESEARCH),
    "rerank-launch": Rule(RESEARCH, "post"),
    "rerank-result": Rule(RESEARCH),
    "rerank-export": Rule(RESEARCH),
    "api-rerank-list": Rule(RESEARCH),
    "api-rerank-detail": Rule(RESEARCH),
    "api-rerank-result": Rule(RESEARCH),
    "api-rerank-csv": Rule(RESEARCH),
    "api-rerank-jsonl": Rule(RESEARCH),
    # --- LoRA checkpoint series (pages and API)
    "series-list": Rule(RESEARCH),
    "series-detail": Rule(RESEARCH),
    "series-render": Rule(RESEARCH, "post"),
    "series-image": Rule(RESEARCH),
    "series-study-new": Rule(RESEARCH),
    "series-result": Rule(RESEARCH),
    "series-result-csv": Rule(RESEARCH),
    "api-series-list": Rule(RESEARCH),
    "api-series-detail": Rule(RESEARCH),
    "api-series-grid": Rule(RESEARCH),
    "api-series-render": Rule(RESEARCH, "post"),
    "api-series-study-create": Rule(RESEARCH, "post"),
    "api-study-series-result": Rule(RESEARCH),
    "api-study-series-result-csv": Rule(RESEARCH),
    # --- team, invites, password, API tokens (accounts)
    "team": Rule(RESEARCH),
    "team-member": Rule(RESEARCH),
    "team-member-active": Rule(RESEARCH, "post", {"action": "deactivate"}),
    "invite-new": Rule(RESEARCH),
    "invite-revoke": Rule(RESEARCH, "post"),
    "invite-accept": Rule(EVERYONE),  # the link is the credential; signed-in users are told
    "password-change": Rule(SIGNED_IN),
    "password-change-done": Rule(SIGNED_IN),
    "api-tokens": Rule(RESEARCH),
    "api-token-revoke": Rule(frozenset({RESEARCHER}), "post"),  # one's own token only
    "api-team-raters": Rule(RESEARCH),
    "api-team-rater-detail": Rule(RESEARCH),
    "api-team-invites": Rule(RESEARCH),
    "api-team-invite-detail": Rule(RESEARCH, "delete"),
    # --- rating (raters with access to the study only)
    "rate-home": Rule(SIGNED_IN),  # lists the studies open to whoever asks: maybe none
    "rate-study": Rule(RATE),
    "rate-guide": Rule(RATE),
    "rate-vote": Rule(RATE, "post", {"presentation": "pending"}),
    "rate-skip": Rule(RATE, "post", {"presentation": "pending"}),
    "rate-undo": Rule(RATE, "post", {"presentation": "pending"}),
    "api-rate-next": Rule(RATE, data={"study": "study"}),
    "api-rate-judgments": Rule(RATE),
    # --- checklist studies: pages, rating, results, exports, labellers, API (the probe's
    # study_id is the world's checklist study)
    "checklist-new": Rule(RESEARCH),
    "checklist-edit": Rule(RESEARCH),
    "checklist-rate": Rule(RATE),
    "checklist-answer": Rule(RATE, "post", {"showing": "showing"}),
    "checklist-results": Rule(RESEARCH),
    "checklist-label": Rule(RESEARCH, "post", {"labeller": "none"}),
    "checklist-csv": Rule(RESEARCH),
    "checklist-jsonl": Rule(RESEARCH),
    "api-checklist-new": Rule(RESEARCH),
    "api-checklist-results": Rule(RESEARCH),
    "api-checklist-csv": Rule(RESEARCH),
    "api-checklist-jsonl": Rule(RESEARCH),
    "api-checklist-label": Rule(RESEARCH),
    "api-checklist-next": Rule(RATE, data={"study": "checklist"}),
    "api-checklist-answers": Rule(RATE),
    # --- media (the image of the rater's pending card; researchers see every file)
    "media": Rule(SIGNED_IN),
    # --- admin site (staff only; the researcher here is not staff)
    "admin:index": Rule(STAFF),
    "admin:login": Rule(EVERYONE),
    "admin:logout": Rule(STAFF),
    "admin:password_change": Rule(STAFF),
    "admin:password_change_done": Rule(STAFF),
    "admin:jsi18n": Rule(STAFF),
    "admin:app_list": Rule(STAFF),
    "admin:auth_user_password_change": Rule(STAFF),
    # No ModelAdmin uses autocomplete_fields, so Django refuses every request (403).
    "admin:autocomplete": Rule(NOBODY),
    # A study's "view on site" (Study.get_absolute_url: the page its kind is shown on).
    "admin:view_on_site": Rule(STAFF),
    "admin/(?P<url>.*)$": Rule(NOBODY),  # the admin's catch-all: 404 for staff too
}

# Every registered ModelAdmin adds the same six URLs; all are staff-only.
ADMIN_MODELS = [
    "auth.group", "auth.user", "authtoken.tokenproxy", "axes.accessattempt",
    "axes.accessfailurelog", "axes.accesslog", "generation.generationconfig", "generation.image",
    "generation.imagescore", "generation.loraadapter", "generation.prompt",
    "generation.workerheartbeat", "ratings.auditevent", "ratings.comparison", "ratings.judgment",
    "ratings.presentation", "ratings.study",
]  # fmt: skip
# Admin views that refuse even superusers: read-only or log-only models.
# Adapters come in through the registration page, which checks the file.
# Records of what happened (a judgment is what a rater said): read-only in the admin.
ADMIN_NO_ADD = {"axes.accessattempt", "axes.accessfailurelog", "axes.accesslog",
                "ratings.auditevent", "generation.loraadapter", "ratings.judgment"}  # fmt: skip
ADMIN_NO_DELETE = {"ratings.auditevent"}
for _label in ADMIN_MODELS:
    _app, _model = _label.split(".")
    for _view in ("changelist", "change", "history"):
        TABLE[f"admin:{_app}_{_model}_{_view}"] = Rule(STAFF)
    TABLE[f"admin:{_app}_{_model}_add"] = Rule(NOBODY if _label in ADMIN_NO_ADD else STAFF)
    TABLE[f"admin:{_app}_{_model}_delete"] = Rule(NOBODY if _label in ADMIN_NO_DELETE else STAFF)
    TABLE[f"admin/{_app}/{_model}/<path:object_id>/"] = Rule(STAFF)  # redirect to change


# --------------------------------------------------------------------------- enumeration


@dataclass(frozen=True)
class Route:
    key: str  # the URL name, namespaced; the route itself for unnamed patterns
    route: str
    pattern: URLPattern


def _routes(
    patterns: list[URLPattern | URLResolver], prefix: str = "", namespace: str | None = None
) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace
            ns = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern), ns)
        else:
            route = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(key=name or route, route=route, pattern=entry)


def all_routes() -> list[Route]:
    return list(_routes(get_resolver().url_patterns))


# --------------------------------------------------------------------------- fixture


@dataclass
class World:
    study: Study
    pending: Presentation
    ids: dict[str, str]
    users: dict[str, Any]


@pytest.fixture
def world() -> World:
    """A rendered, open study with comparisons, a judged and a pending presentation, a
    prompt, configs and an adapter; a rater with access, a researcher and a superuser."""
    study = ready_study(n_configs=3)
    judge = rater(username="ray")
    first = deck_deal(rater=judge, study=study).current
    assert first is not None
    judgments_record(
        rater=judge,
        presentation_id=first.pk,
        votes={c.key: "left" for c in study.criteria.all()},
    )
    card = deck_deal(rater=judge, study=study).current
    assert card is not None
    pending = Presentation.objects.get(pk=card.pk)
    adapter = LoraAdapter.objects.create(name="phol threader", weights="/w.safetensors",
                                         sha256="0" * 64, trigger_token="phol")  # fmt: skip
    series = series_over(study)  # the series pages
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    rita = researcher(username="rita")
    invite = invite_create(actor=rita)
    token = api_token_create(user=rita, name="probe").token
    image = study.comparisons.first().image_a  # type: ignore[union-attr]
    ImageScore.objects.create(image=image, metric="checklist:probe", value=0.5, model_path="-")
    best_of = rerank_study_create(
        name="Best of four", config=image.config, prompts=[image.prompt], candidates=4,
        scorers=["checklist:probe"],
    )  # fmt: skip
    checklist = ready_checklist_study(n_configs=1, n_prompts=1)
    showing = checklist_deal(rater=judge, study=checklist).current
    assert showing is not None
    ids = {
        "study": str(study.pk),
        "prompt": str(study.prompts.first().pk),  # type: ignore[union-attr]
        "config": str(study.configs.first().pk),  # type: ignore[union-attr]
        "image": str(image.pk),
        "adapter": str(adapter.pk),
        "rater": str(judge.pk),
        "pending": str(pending.pk),
        "media": pending.left.display_file.name,
        "content_type": str(ContentType.objects.get_for_model(Study).pk),
        "invite": str(invite.invite.pk),
        "invite_token": invite.token,
        "token": str(token.pk),
        "rerank": str(best_of.pk),
        "checklist": str(checklist.pk),
        "showing": str(showing.pk),
        "series": str(series.pk),
    }
    users = {RATER: judge, RESEARCHER: rita, ADMIN: root}
    return World(study=study, pending=pending, ids=ids, users=users)


def _object_id(route: Route) -> str:
    """Admin URLs: the first row of the model the URL is about (1 if it has none)."""
    match = re.match(
        r"admin:(\w+?)_(\w+?)_(password_change|change|history|delete)$", route.key
    ) or re.match(r"admin/(\w+)/(\w+)/<path:object_id>/$", route.key)
    assert match, route.key
    model = apps.get_model(match.group(1), match.group(2))
    first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
    return str(first or 1)


def _value(route: Route, name: str, converter: str, world: World) -> str:
    ids = world.ids
    if name == "name" and route.key == "media":
        return ids["media"]
    if name == "format":
        return ".json" if converter == "drf_format_suffix" else "json"
    if name == "pk":
        # Pages and API routes name their object: api-prompt-detail, config-edit, study-…
        for kind in ("rerank", "series", "prompt", "adapter", "config", "image", "study"):
            if kind in route.key:
                return ids[kind]
        raise AssertionError(f"no object for pk in {route.key}")
    fixed = {
        "study_id": ids["checklist"] if "checklist" in route.key else ids["study"],
        "series_id": ids["series"],
        "image_id": ids["image"],
        "rater_id": ids["rater"],
        "user_id": ids["rater"],
        "invite_id": ids["invite"],
        "token_id": ids["token"],
        "token": ids["invite_token"],
        "app_label": "ratings",
        "content_type_id": ids["content_type"],
        "url": "no-such-page/",
        "fmt": "csv",
    }
    if name in ("object_id", "id"):
        return ids["study"] if route.key == "admin:view_on_site" else _object_id(route)
    return fixed[name]


def url_for(route: Route, world: World) -> str:
    def path_param(match: re.Match[str]) -> str:
        return _value(route, match.group("name"), match.group("conv") or "", world)

    def regex_param(match: re.Match[str]) -> str:
        return _value(route, match.group("name"), "", world)

    url = re.sub(r"\(\?P<(?P<name>\w+)>[^)]*\)", regex_param, route.route)
    url = re.sub(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>", path_param, url)
    url = "/" + url.replace("^", "").replace("$", "").replace("/?", "").replace("\\.", ".")
    # The probe must reach the pattern it is about, not a neighbour that happens to match.
    assert resolve(urlsplit(url).path).func is route.pattern.callback, (route.key, url)
    return url


# --------------------------------------------------------------------------- verdicts

LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def _redirect(response: HttpResponse) -> str | None:
    if response.status_code in (301, 302, 303, 307, 308):
        return str(response["Location"])
    return None


def verdict(chain: list[HttpResponse], role: str) -> str:
    """'allowed', 'refused', or what went wrong, from a response and the redirects after it."""
    for response in chain:
        location = _redirect(response)
        if location is not None and urlsplit(location).path in LOGIN_PATHS:
            return "refused"
    response = chain[-1]
    code = response.status_code
    if code >= 500:
        return f"server error {code}"
    if code in (401, 403):
        return "refused"
    if code == 404:
        # Only signed-in users are told "not found" (a study or pair not theirs); anonymous
        # visitors must meet the login wall first.
        return "refused" if role != ANON else "404 before the login wall"
    return "allowed"


def _client(role: str, sessions: dict[str, SimpleCookie]) -> Client:
    client = Client(raise_request_exception=False)
    if role in sessions:
        client.cookies = SimpleCookie(sessions[role])
    return client


def _probe(client: Client, url: str, rule: Rule, world: World) -> list[HttpResponse]:
    """The response and up to three redirects after it (a redirect may lead to a login)."""
    data = {k: world.ids.get(v, v) for k, v in rule.data.items()}
    # Each request runs in a savepoint that is rolled back: probes cannot change the world
    # the next one sees (a launch, a skip, a logout).
    with transaction.atomic():
        if rule.method == "delete":
            chain = [client.delete(url)]
        else:
            chain = [client.post(url, data) if rule.method == "post" else client.get(url, data)]
        while (location := _redirect(chain[-1])) is not None and len(chain) < 4:
            if urlsplit(location).path in LOGIN_PATHS:
                break
            chain.append(client.get(location))
        transaction.set_rollback(True)
    return chain


def _sessions(world: World) -> dict[str, SimpleCookie]:
    sessions = {}
    for role, user in world.users.items():
        client = Client()
        client.force_login(user)
        sessions[role] = SimpleCookie(client.cookies)
    return sessions


# --------------------------------------------------------------------------- tests


def test_every_url_is_in_the_permission_table() -> None:
    keys = {route.key for route in all_routes()}
    missing = sorted(keys - TABLE.keys())
    assert not missing, f"classify these URLs in tests/test_permissions.py TABLE: {missing}"
    stale = sorted(TABLE.keys() - keys)
    assert not stale, f"the table names URLs that no longer exist: {stale}"


def test_every_url_allows_exactly_the_roles_in_the_table(world: World) -> None:
    sessions = _sessions(world)
    wrong: list[str] = []
    for route in all_routes():
        rule = TABLE.get(route.key)
        if rule is None:
            continue  # reported by test_every_url_is_in_the_permission_table
        url = url_for(route, world)
        for role in ROLES:
            chain = _probe(_client(role, sessions), url, rule, world)
            got = verdict(chain, role)
            expected = "allowed" if role in rule.allowed else "refused"
            if got != expected:
                steps = " → ".join(
                    f"{r.status_code} {r.get('Location', '')}".strip() for r in chain
                )
                wrong.append(
                    f"{rule.method.upper()} {url} [{route.key}] as {role}: expected {expected}, "
                    f"got {got} ({steps})"
                )
    assert not wrong, "\n".join(wrong)


def test_rater_endpoints_refuse_unsafe_methods_to_researchers_without_access(
    world: World,
) -> None:
    sessions = _sessions(world)
    study, pending = world.study, world.pending
    votes = {f"c-{c.key}": "left" for c in study.criteria.all()}
    for role in (RESEARCHER, ADMIN):
        client = _client(role, sessions)
        for action in ("vote", "skip", "undo"):
            body = {"presentation": pending.pk, **votes}
            response = client.post(f"/rate/{study.pk}/{action}/", body, HTTP_HX_REQUEST="true")
            assert response.status_code == 404, (role, action, response.status_code)
        api = client.post(
            "/api/rate/judgments/",
            {"presentation": pending.pk, "criterion": "prompt_adherence", "outcome": "left"},
            content_type="application/json",
        )
        assert api.status_code == 403, (role, api.status_code)
    pending.refresh_from_db()
    assert pending.answered_at is None and pending.skipped_at is None
    assert not pending.judgments.exists()
    # Anonymous: the pages send to login, the API says 403, nothing is recorded.
    anonymous = Client()
    page = anonymous.post(f"/rate/{study.pk}/vote/", {"presentation": pending.pk, **votes})
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert anonymous.post("/api/rate/judgments/", {}).status_code in (401, 403)


def test_researcher_apis_refuse_raters_for_every_unsafe_method(world: World) -> None:
    client = _client(RATER, _sessions(world))
    ids = world.ids
    unsafe = [
        ("post", "/api/prompts/"),
        ("post", "/api/prompts/import/"),
        ("patch", f"/api/prompts/{ids['prompt']}/"),
        ("delete", f"/api/prompts/{ids['prompt']}/"),
        ("post", "/api/adapters/"),
        ("patch", f"/api/adapters/{ids['adapter']}/"),
        ("post", "/api/configs/"),
        ("post", "/api/configs/build/"),
        ("put", f"/api/configs/{ids['config']}/"),
        ("delete", f"/api/configs/{ids['config']}/"),
        ("post", "/api/studies/"),
        ("patch", f"/api/studies/{ids['study']}/"),
        ("delete", f"/api/studies/{ids['study']}/"),
        ("post", f"/api/studies/{ids['study']}/launch/"),
        ("post", f"/api/studies/{ids['study']}/open/"),
        ("post", f"/api/studies/{ids['study']}/close/"),
        ("post", f"/api/studies/{ids['study']}/retry/"),
        ("post", f"/api/studies/{ids['study']}/raters/{ids['rater']}/exclusion/"),
        ("delete", f"/api/studies/{ids['study']}/raters/{ids['rater']}/exclusion/"),
    ]
    for method, url in unsafe:
        response = getattr(client, method)(url, {}, content_type="application/json")
        assert response.status_code == 403, (method, url, response.status_code)
    for url in ("launch", "retry", "status"):
        assert client.post(f"/studies/{ids['study']}/{url}/").status_code == 403, url
    toggle = f"/studies/{ids['study']}/analysis/raters/{ids['rater']}/"
    assert client.post(toggle, {"action": "exclude"}).status_code == 403
    world.study.refresh_from_db()
    assert world.study.status == Study.Status.OPEN and not world.study.excluded_raters.exists()


def test_admin_models_in_the_table_are_the_registered_ones() -> None:
    registered = sorted(model._meta.label_lower for model in admin.site._registry)
    assert registered == sorted(ADMIN_MODELS)


def test_checklist_writes_refuse_the_wrong_role(world: World) -> None:
    sessions = _sessions(world)
    checklist, showing = world.ids["checklist"], world.ids["showing"]
    as_rater = _client(RATER, sessions)
    for url in (
        "/api/checklist-studies/",
        f"/api/studies/{checklist}/checklist/labels/",
    ):
        response = as_rater.post(url, {}, content_type="application/json")
        assert response.status_code == 403, (url, response.status_code)
    assert as_rater.post(f"/studies/{checklist}/checklist/label/").status_code == 403
    for role in (RESEARCHER, ADMIN):
        client = _client(role, sessions)
        page = client.post(
            f"/rate/checklist/{checklist}/answer/", {"showing": showing}, HTTP_HX_REQUEST="true"
        )
        assert page.status_code == 404, (role, page.status_code)
        api = client.post(
            "/api/rate/checklist/answers/",
            {"study": checklist, "showing": showing, "answers": {}},
            content_type="application/json",
        )
        assert api.status_code == 403, (role, api.status_code)
    assert not ChecklistAnswer.objects.exists()
