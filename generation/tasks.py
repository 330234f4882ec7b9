"""Celery tasks: parse ids, call a service. Retries live in the services (attempts, leases)."""

from __future__ import annotations

from celery import shared_task

from generation.services import rendering


@shared_task(acks_late=True, ignore_result=True)
def render_batch(image_ids: list[int]) -> int:
    return rendering.images_render(image_ids=[int(i) for i in image_ids])


@shared_task(ignore_result=True)
def dispatch_pending() -> int:
    return rendering.images_dispatch()


@shared_task(ignore_result=True)
def sweep_leases() -> int:
    return rendering.leases_sweep()
