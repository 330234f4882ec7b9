"""Health check and the error pages an operator sees when a dependency is down."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.cache import never_cache

from evalsite.celery import app as celery_app

DB_DOWN = "Loupe cannot reach its database right now. Nothing was lost; try again in a minute."


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except DatabaseError as error:
        return False, f"{type(error).__name__}: {error}".strip()[:300]


def _broker_ok() -> tuple[bool, str]:
    if celery_app.conf.task_always_eager:
        return True, "eager (no broker)"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable" here
        return False, f"{type(error).__name__}: {error}"[:300]


def _is_staff(request: HttpRequest) -> bool:
    """Staff by the API's own authentication (REST_FRAMEWORK's classes: Loupe's API keys, the
    session, admin-made tokens), so that /healthz knows a caller exactly as the API does.

    /healthz is answered before the session and auth middleware, so the session and user are
    attached here as those would (call only when the database answers)."""
    if (
        settings.SESSION_COOKIE_NAME not in request.COOKIES
        and "Authorization" not in request.headers
    ):
        return False  # a plain probe: every configured authenticator needs one of the two
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request
    from rest_framework.views import APIView

    engine = import_module(settings.SESSION_ENGINE)  # as SessionMiddleware reads it
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    request.user = SimpleLazyObject(lambda: get_user(request))  # type: ignore[assignment]
    authenticators = APIView().get_authenticators()  # REST_FRAMEWORK's, as every API view
    try:
        user = Request(request, authenticators=authenticators).user
    except APIException:  # a refused credential: answered as anonymous, never an error
        return False
    return bool(user.is_active and user.is_staff)


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """ok / unavailable for anyone (load balancers); what is down, and the workers, for staff:
    error texts name hosts and ports, which an anonymous caller has no business reading."""
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    ok = db_ok and broker_ok
    status = 200 if ok else 503
    if not (db_ok and _is_staff(request)):
        return JsonResponse({"status": "ok" if ok else "unavailable"}, status=status)
    workers: list[dict[str, object]] = []
    if db_ok:
        from generation.models import WorkerHeartbeat

        # Liveness for an operator's monitor: workers heard from in the last minute. Not the
        # progress page's panel (generation.selectors.workers_recent: who worked lately) nor
        # the ETA's divisor (active_workers: hosts rendering this queue's images).
        since = timezone.now() - timedelta(minutes=1)
        workers = [
            {"node": w.node, "device": w.device, "last_seen": w.last_seen.isoformat()}
            for w in WorkerHeartbeat.objects.filter(last_seen__gte=since)
        ]
    body = {
        "status": "ok" if ok else "unavailable",
        "database": db_detail,
        "broker": broker_detail,
        "render_workers_last_minute": len(workers),
        "workers": workers,
    }
    return JsonResponse(body, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database outage is a 503 with a plain message, never a traceback."""
    error = sys.exc_info()[1]
    # Only a lost connection is an outage: a DataError (a number out of range) is bad input,
    # answered 400 by evalsite.limits; anything else reaching here is a bug, a plain 500.
    if isinstance(error, OperationalError | InterfaceError):
        return HttpResponse(
            DB_DOWN,
            status=503,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": "30"},
        )
    html = loader.get_template("500.html").render({})
    return HttpResponse(html, status=500)


class HealthzMiddleware:
    """Answer /healthz before sessions and auth touch the database, so that a database
    outage is reported by the health check rather than breaking it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return healthz(request)
        return self.get_response(request)
