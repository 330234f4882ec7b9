"""The broker (Redis, CELERY_BROKER_URL) is down when a researcher launches or retries: the study
is created whole, the page and the API say the render queue is unreachable, and the sweeper sends
the images once the broker is back. The test's own Redis, stopped for real."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from generation.models import Image
from generation.services.rendering import leases_sweep
from ratings.models import Comparison
from tests.factories import (
    PrivateRedis,
    Workers,
    all_finished,
    make_study,
    queued_messages,
    researcher,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def down_broker(private_broker: PrivateRedis, settings: Any) -> PrivateRedis:
    settings.LOUPE_RENDER_BATCH = 4
    private_broker.stop()
    return private_broker


def test_launch_page_with_the_broker_down_says_so_and_keeps_the_study(
    client: Client, down_broker: PrivateRedis
) -> None:
    study = make_study(n_configs=4, n_prompts=2, seeds_per_prompt=2)  # 16 images, 24 pairs
    client.force_login(researcher())
    started = time.monotonic()
    answer = client.post(f"/studies/{study.pk}/launch/", follow=True)
    seconds = time.monotonic() - started
    print(f"launch with the broker down answered in {seconds:.2f} s")
    assert answer.status_code == 200
    assert answer.redirect_chain[-1][0] == f"/studies/{study.pk}/progress/"
    page = answer.content.decode()
    assert "render queue is unreachable" in page and "msg-warning" in page
    images = list(Image.objects.all())
    assert len(images) == 16 and Comparison.objects.filter(study=study).count() == 24
    assert {i.status for i in images} == {Image.Status.QUEUED}
    assert all(i.lease_expires_at is not None and i.lease_expires_at <= timezone.now()
               for i in images)  # fmt: skip
    study.refresh_from_db()
    assert study.status == study.Status.RENDERING

    down_broker.start()
    assert queued_messages(down_broker) == 0  # nothing got through while it was down
    leases_sweep()
    assert queued_messages(down_broker) == 4  # 16 images in batches of 4
    assert {i.status for i in Image.objects.all()} == {Image.Status.QUEUED}
    assert all(i.lease_expires_at > timezone.now() for i in Image.objects.all())  # type: ignore[operator]


def test_launch_and_retry_api_with_the_broker_down_answer_503_with_a_message(
    client: Client, down_broker: PrivateRedis
) -> None:
    study = make_study(n_configs=3)
    client.force_login(researcher())
    launched = client.post(f"/api/studies/{study.pk}/launch/")
    assert launched.status_code == 503
    body = launched.json()
    assert "render queue is unreachable" in body["detail"]
    assert body["images_waiting"] == 3 and body["status"] == "rendering"
    assert launched["Retry-After"] == "60"
    assert Image.objects.filter(status=Image.Status.QUEUED).count() == 3

    Image.objects.update(status=Image.Status.FAILED, attempts=3, error="boom")
    retried = client.post(f"/api/studies/{study.pk}/retry/", {}, content_type="application/json")
    assert retried.status_code == 503 and retried.json()["images_waiting"] == 3
    assert {i.attempts for i in Image.objects.all()} == {0}
    assert Image.objects.filter(status=Image.Status.QUEUED).count() == 3

    page_retry = client.post(f"/studies/{study.pk}/retry/", follow=True)
    assert page_retry.status_code == 200  # nothing failed any more: nothing to send


def test_sweeper_sends_pending_images_nobody_dispatched(down_broker: PrivateRedis) -> None:
    # The web process died between committing a launch and publishing it: pending, no lease.
    study = make_study(n_configs=2)
    images = [Image.objects.create(config=c, prompt=study.prompts.get(), seed=study.base_seed)
              for c in study.configs.all()]  # fmt: skip
    down_broker.start()
    leases_sweep()
    assert queued_messages(down_broker) == 2  # two samplers: two batches
    assert {i.status for i in Image.objects.filter(pk__in=[i.pk for i in images])} == {"queued"}


@pytest.mark.services
def test_images_launched_while_the_broker_was_down_render_once_it_is_back(
    client: Client, down_broker: PrivateRedis, workers: Workers, settings: Any
) -> None:
    workers.broker_url = down_broker.url
    # A real worker with the sweeper, started while the broker is down: it waits for it.
    workers.start("patient", beat=True, LOUPE_SWEEP_SECONDS="1", LOUPE_RENDER_BATCH="4")
    study = make_study(n_configs=3, n_prompts=2, seeds_per_prompt=2)  # 12 images
    client.force_login(researcher())
    assert client.post(f"/api/studies/{study.pk}/launch/").status_code == 503
    assert Image.objects.filter(status="queued").count() == 12
    time.sleep(3)
    assert Image.objects.filter(status="queued").count() == 12  # nothing moved while down
    down_broker.start()
    back = time.monotonic()
    wait_until(lambda: not Image.objects.filter(status="queued", lease_expires_at__lte=timezone.now()).exists(),
               timeout=120, what="the sweeper re-sending the batches", crew=workers)  # fmt: skip
    resent = time.monotonic() - back
    wait_until(all_finished, timeout=300, what="rendering after the broker came back",
               crew=workers)  # fmt: skip
    print(f"broker back: batches re-sent after {resent:.1f} s, 12 images rendered "
          f"{time.monotonic() - back:.1f} s after it was back (sweep every 1 s)")  # fmt: skip
    images = list(Image.objects.all())
    assert {i.status for i in images} == {"done"} and {i.attempts for i in images} == {1}
