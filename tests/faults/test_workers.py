"""Render workers under faults: real Celery processes, PostgreSQL and Redis (marked `services`)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from generation.models import Image
from ratings.services.studies import study_launch
from tests.factories import (
    PrivateRedis,
    Workers,
    all_finished,
    make_study,
    wait_until,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _files(settings: Any, folder: str) -> set[str]:
    path = Path(settings.MEDIA_ROOT, folder)
    return {p.name for p in path.iterdir()} if path.exists() else set()


def test_two_workers_render_a_200_image_study_exactly_once(workers: Workers, settings: Any) -> None:
    for name in ("w1", "w2"):
        workers.start(name, LOUPE_RENDER_BATCH="8")
    study = make_study(n_configs=5, n_prompts=10, seeds_per_prompt=4)
    study_launch(study=study)  # transactional test: on_commit publishes to Redis
    wait_until(all_finished, timeout=600, what="200 images", crew=workers)
    images = list(Image.objects.all())
    assert len(images) == 200
    assert {i.status for i in images} == {"done"}
    assert all(i.attempts == 1 for i in images), "an image was claimed twice"
    assert _files(settings, "masters") == {Path(i.file.name).name for i in images}
    assert _files(settings, "img") == {Path(i.display_file.name).name for i in images}
    assert len({i.file.name for i in images}) == 200


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(
    workers: Workers, private_broker: PrivateRedis, settings: Any
) -> None:
    # The test's own Redis: the killed worker's unacknowledged message stays in kombu's
    # `unacked` hash until its visibility timeout, and a shared broker would keep it after
    # the test (celery purge does not clear it).
    workers.broker_url = private_broker.url
    quick_leases = {
        "LOUPE_LEASE_SECONDS": "4",
        "LOUPE_SWEEP_SECONDS": "1",
        "LOUPE_RENDER_BATCH": "8",
    }
    victim = workers.start("victim", **quick_leases)
    study = make_study(n_configs=4, n_prompts=4, seeds_per_prompt=2)  # 32 images
    study_launch(study=study)
    wait_until(lambda: Image.objects.filter(status="rendering").exists(), timeout=180,
               what="a batch in flight", crew=workers)  # fmt: skip
    in_flight = set(Image.objects.filter(status="rendering").values_list("pk", flat=True))
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    workers.start("rescuer", beat=True, **quick_leases)
    wait_until(all_finished, timeout=300, what="recovery after SIGKILL", crew=workers)
    images = list(Image.objects.all())
    assert len(images) == 32 and {i.status for i in images} == {"done"}
    assert len({i.file.name for i in images}) == 32
    retried = {i.pk for i in images if i.attempts == 2}
    assert in_flight <= retried, "the killed batch was not re-rendered after its lease expired"
    assert all(i.attempts <= 2 for i in images)
    # Every stored file belongs to exactly one image; at most the killed batch left orphans.
    referenced = {Path(i.file.name).name for i in images}
    assert referenced <= _files(settings, "masters")
    assert len(_files(settings, "masters") - referenced) <= len(in_flight)


def test_redis_restart_mid_run_resumes_without_a_manual_step(
    workers: Workers, private_broker: PrivateRedis, settings: Any
) -> None:
    workers.broker_url = private_broker.url  # the test's own Redis: it is stopped below
    # This process dispatches the study's batches: their queue leases must be short too.
    settings.LOUPE_QUEUE_LEASE_SECONDS = 6
    workers.start("steady", beat=True, LOUPE_QUEUE_LEASE_SECONDS="6", LOUPE_SWEEP_SECONDS="1",
                  LOUPE_RENDER_BATCH="4")  # fmt: skip
    study = make_study(n_configs=4, n_prompts=4, seeds_per_prompt=2)  # 32 images
    study_launch(study=study)
    wait_until(lambda: Image.objects.filter(status="done").count() >= 4, timeout=180,
               what="the first images", crew=workers)  # fmt: skip
    # A marker written beside the queue: gone after the restart, as the queue's messages are
    # (no persistence). Counting the queue itself right after the restart would race the
    # sweeper, which may already have sent the waiting batches again.
    marker = redis.Redis.from_url(private_broker.url)
    marker.set("loupe-test-marker", "1")
    private_broker.stop()
    waiting = Image.objects.filter(status__in=["queued", "pending"]).count()
    assert waiting > 0, "every image was rendered before Redis stopped: nothing was at stake"
    time.sleep(2)
    private_broker.start()  # same port: the worker and beat reconnect by themselves
    assert not marker.exists("loupe-test-marker"), "the restarted Redis still held its data"
    back = time.monotonic()
    wait_until(all_finished, timeout=300, what="recovery after the Redis restart", crew=workers)
    print(f"redis restart: {waiting} images waiting, all done {time.monotonic() - back:.1f} s "
          "after Redis was back (queue lease 6 s, sweep 1 s)")  # fmt: skip
    images = list(Image.objects.all())
    assert {i.status for i in images} == {"done"}
    assert len({i.file.name for i in images}) == 32
