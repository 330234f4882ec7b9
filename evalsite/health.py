"""Health check and the error pages an operator sees when a dependency is down."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import timezone
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


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    workers: list[dict[str, object]] = []
    if db_ok:
        from generation.models import WorkerHeartbeat

        since = timezone.now() - timedelta(minutes=1)
        workers = [
            {"node": w.node, "device": w.device, "last_seen": w.last_seen.isoformat()}
            for w in WorkerHeartbeat.objects.filter(last_seen__gte=since)
        ]
    ok = db_ok and broker_ok
    body = {
        "status": "ok" if ok else "unavailable",
        "database": db_detail,
        "broker": broker_detail,
        "render_workers_last_minute": len(workers),
        "workers": workers,
    }
    return JsonResponse(body, status=200 if ok else 503)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database outage is a 503 with a plain message, never a traceback."""
    error = sys.exc_info()[1]
    if isinstance(error, DatabaseError):
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
