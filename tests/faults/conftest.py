"""Real Celery worker processes and a private Redis for the fault tests.

Fault tests stop and start Redis: they run their own server on a free port, never the
machine's shared one (other processes use it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import pytest
from django.db import connection
from django.db.models import Count

from evalsite.celery import app as celery_app
from generation.models import Image
from tests.factories import free_port

ROOT = Path(__file__).resolve().parents[2]


class Workers:
    def __init__(self, media_root: Path, log_dir: Path) -> None:
        self.media_root = media_root
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.broker_url = os.environ.get("CELERY_BROKER_URL", "")

    def env(self, **extra: str) -> dict[str, str]:
        db = connection.settings_dict
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "evalsite.test_settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "MEDIA_ROOT": str(self.media_root),
            "CELERY_BROKER_URL": self.broker_url,
            **extra,
        }

    def start(self, name: str, *, beat: bool = False, **extra: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "celery", "-A", "evalsite", "worker", "-Q", "render",
                "--pool=solo", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
                "--loglevel=INFO"]  # fmt: skip
        if beat:
            args += ["-B", "--schedule", str(self.log_dir / f"{name}-beat")]
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env(**extra), stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def purge(self) -> None:
        subprocess.run([sys.executable, "-m", "celery", "-A", "evalsite", "purge", "-f", "-Q", "render"],
                       cwd=ROOT, env=self.env(), capture_output=True, timeout=60)  # fmt: skip

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.log_dir.glob("*.log"))


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


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, crew: Workers) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            counts = dict(Image.objects.values_list("status").annotate(n=Count("pk")))
            raise AssertionError(f"timed out waiting for {what}; images {counts}\n{crew.logs()}")
        time.sleep(0.3)


def all_finished() -> bool:
    return not Image.objects.exclude(status__in=["done", "failed"]).exists()


class PrivateRedis:
    """A redis-server of the test's own, without persistence: stopping it loses every key
    and queued message, as a crash of an unpersisted broker or cache does."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not self.ping():
            assert time.monotonic() < deadline, f"redis-server did not start on {self.port}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        assert not self.ping(), "Redis still answers after being stopped"


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


def point_broker(url: str) -> None:
    """Make this process publish to `url`, dropping connections pooled for the old broker."""
    # Celery reads the environment variable before its configuration.
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf["CELERY_BROKER_URL"] = url
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # kombu keeps producer pools in a module-wide registry keyed by connection: one made for
    # the old broker would come back for the same URL with its connections closed.
    kombu.pools.reset()


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


def queued_messages(server: PrivateRedis, queue: str = "render") -> int:
    import redis

    return int(redis.Redis.from_url(server.url).llen(queue))  # type: ignore[arg-type]
