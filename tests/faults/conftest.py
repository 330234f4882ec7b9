"""Real Celery worker processes for the fault tests, on the test database and real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from evalsite.celery import app as celery_app
from generation.models import Image

ROOT = Path(__file__).resolve().parents[2]


class Workers:
    def __init__(self, media_root: Path, log_dir: Path) -> None:
        self.media_root = media_root
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def env(self, **extra: str) -> dict[str, str]:
        db = connection.settings_dict
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "evalsite.test_settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "MEDIA_ROOT": str(self.media_root),
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
