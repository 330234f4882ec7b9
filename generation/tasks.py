"""Celery tasks: parse ids, call a service. Retries live in the services (attempts, leases)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready

from generation.services import rendering


@shared_task(bind=True, acks_late=True, ignore_result=True)
def render_batch(self: Task, image_ids: list[int]) -> int:  # type: ignore[type-arg]
    return rendering.images_render(
        image_ids=[int(i) for i in image_ids], node=self.request.hostname or None
    )


@shared_task(ignore_result=True)
def dispatch_pending() -> int:
    return rendering.images_dispatch_or_log()


@shared_task(ignore_result=True)
def sweep_leases() -> int:
    return rendering.leases_sweep()


@worker_ready.connect
def _announce(sender: Any = None, **kwargs: Any) -> None:
    rendering.worker_heartbeat(node=getattr(sender, "hostname", None) or "worker")


@shared_task(acks_late=True, ignore_result=True)
def score_images(image_ids: list[int], metrics: list[str] | None = None) -> int:
    from generation.services import scoring

    return scoring.images_score(image_ids=[int(i) for i in image_ids], metrics=metrics)
