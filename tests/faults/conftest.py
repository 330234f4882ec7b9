"""Real Celery worker processes and a private Redis for the fault tests.

Fault tests stop and start Redis: they run their own server on a free port, never the
machine's shared one (other processes use it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalsite.celery import app as celery_app
from tests.factories import PrivateRedis, Workers, point_broker


@pytest.fixture
def workers(tmp_path: Path, settings: Any) -> Iterator[Workers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    crew = Workers(Path(settings.MEDIA_ROOT), logs)
    crew.purge()
    # The prefixed key: with the Django namespace, setting conf.task_always_eager does not stick.
    eager = celery_app.conf.task_always_eager
    celery_app.conf["CELERY_TASK_ALWAYS_EAGER"] = False
    try:
        yield crew
    finally:
        celery_app.conf["CELERY_TASK_ALWAYS_EAGER"] = eager
        crew.stop_all()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: the fault tests need it (apt install redis)")
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = PrivateRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_broker(private_redis: PrivateRedis) -> Iterator[PrivateRedis]:
    """This process publishes to the test's own Redis, not eagerly (set Workers.broker_url
    for the workers)."""
    saved_environ = os.environ.get("CELERY_BROKER_URL")
    saved = celery_app.conf.broker_url
    eager = celery_app.conf.task_always_eager
    celery_app.conf["CELERY_TASK_ALWAYS_EAGER"] = False
    point_broker(private_redis.url)
    try:
        yield private_redis
    finally:
        point_broker(saved)
        if saved_environ is None:
            del os.environ["CELERY_BROKER_URL"]
        celery_app.conf["CELERY_TASK_ALWAYS_EAGER"] = eager
