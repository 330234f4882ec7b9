"""Real Celery worker processes against real PostgreSQL and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from evalsite.celery import app as celery_app
from generation.models import Image
from ratings.services.studies import study_launch
from tests.factories import make_study

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("CELERY_BROKER_URL", "")


@pytest.fixture
def workers(tmp_path: Path, settings: Any) -> Iterator[list[subprocess.Popen[bytes]]]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evalsite.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "LOUPE_RENDER_BATCH": "4",
    }
    subprocess.run([sys.executable, "-m", "celery", "-A", "evalsite", "purge", "-f", "-Q", "render"],
                   cwd=ROOT, env=env, capture_output=True, timeout=60)  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "evalsite", "worker", "-Q", "render",
             "--pool=solo", "-n", f"w{i}@%h", "--without-gossip", "--without-mingle",
             "--loglevel=WARNING"],
            cwd=ROOT, env=env, stdout=(tmp_path / f"w{i}.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        for i in range(2)
    ]
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield procs
    finally:
        celery_app.conf.task_always_eager = eager
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_two_workers_render_every_image_exactly_once(workers: list[Any], settings: Any) -> None:
    study = make_study(n_configs=4, n_prompts=2, seeds_per_prompt=3)
    study_launch(study=study)  # transactional test: on_commit fires, tasks go to Redis
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if not Image.objects.exclude(status__in=["done", "failed"]).exists():
            break
        assert all(proc.poll() is None for proc in workers), "a worker died"
        time.sleep(0.5)
    images = list(Image.objects.all())
    assert len(images) == 24
    assert {i.status for i in images} == {"done"}, [i.error for i in images if i.error]
    assert all(i.attempts == 1 for i in images)
    masters = list(Path(settings.MEDIA_ROOT, "masters").iterdir())
    displays = list(Path(settings.MEDIA_ROOT, "img").iterdir())
    assert len(masters) == len(displays) == 24
    assert {Path(i.file.name).name for i in images} == {p.name for p in masters}
