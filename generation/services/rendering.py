"""Turning pending Images into files: dispatch, atomic claims, results, lease sweeping.

The engine (torch, diffusers) is imported lazily, only in the process that renders.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from functools import partial
from itertools import groupby
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from generation.models import Image, WorkerHeartbeat
from generation.services.adapters import trigger_tokens

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from generation.engine import Engine, RenderSpec

log = logging.getLogger(__name__)
Status = Image.Status

_engine: Engine | None = None


def get_engine() -> Engine:
    """One engine per worker process: pipelines, schedulers and embeddings stay warm."""
    global _engine
    if _engine is None:
        from generation.engine import Engine

        _engine = Engine(device=settings.LOUPE_RENDER_DEVICE, compile=settings.LOUPE_TORCH_COMPILE)
    return _engine


def _prompt_text(image: Image, tokens: Sequence[str]) -> str:
    text = image.prompt.text
    missing = [t for t in tokens if t and t not in text.split()]
    return ", ".join([*missing, text]) if missing else text


def image_resolved_params(image: Image) -> dict[str, Any]:
    """Everything the engine needs to reproduce this image, as plain JSON-able data."""
    config = image.config
    # .all() so that a caller's prefetch_related("config__adapter_links__adapter") is used.
    links = [
        link
        for link in sorted(config.adapter_links.all(), key=lambda link: link.adapter.sha256)
        if round(float(link.scale), 4) != 0  # scale 0: no adapter (older configs kept one)
    ]
    triggers = (
        trigger_tokens(prompt=image.prompt, adapters=[(ln.adapter, ln.scale) for ln in links])
        if config.insert_trigger
        else []
    )
    return {
        "base_model": config.base_model,
        "vae": config.vae,
        "sampler": config.sampler,
        "steps": config.steps,
        "cfg": config.cfg,
        "width": config.width,
        "height": config.height,
        "prompt": _prompt_text(image, triggers),
        "key_terms": list(image.prompt.key_terms),
        "compel_level": config.compel_level,
        "negative_prompt": config.negative_prompt,
        "seed": image.seed,
        "adapters": [
            {"path": link.adapter.weights, "sha256": link.adapter.sha256, "scale": link.scale}
            for link in links
        ],
    }


def spec_from_params(params: dict[str, Any]) -> RenderSpec:
    from generation.engine import AdapterSpec, RenderSpec

    fields = dict(params)
    fields["key_terms"] = tuple(fields["key_terms"])
    fields["adapters"] = tuple(AdapterSpec(**a) for a in fields["adapters"])
    return RenderSpec(**fields)


def _batch_key(params: dict[str, Any]) -> tuple[Any, ...]:
    """Images with the same key share a model state and can share one pipeline call."""
    adapters = tuple((a["sha256"], a["scale"]) for a in params["adapters"])
    return (
        params["base_model"], params["vae"], adapters,
        params["sampler"], params["steps"], params["cfg"], params["width"], params["height"],
    )  # fmt: skip


def render_batch_key(image: Image) -> tuple[Any, ...]:
    return _batch_key(image_resolved_params(image))


class RenderQueueUnavailable(Exception):
    """The broker did not take a render batch. The images stay queued with an expired queue
    lease, so the sweeper sends them again as soon as the broker answers: nothing to redo."""

    def __init__(self, *, waiting: int) -> None:
        self.waiting = waiting
        super().__init__(
            f"The render queue is unreachable right now, so {waiting} image"
            f"{'s' if waiting != 1 else ''} could not be sent to the render workers. Nothing "
            "was lost: they wait as queued and are sent again automatically once the queue "
            "is back (within a minute of it). No need to launch or retry again."
        )


def images_dispatch(*, image_ids: Iterable[int] | None = None) -> int:
    """Queue pending images in batches grouped by model state. Safe to run twice.

    Only rows still pending are taken (conditional UPDATE), so a second dispatcher finds
    nothing to queue. Returns the number of batches sent. Raises RenderQueueUnavailable when
    the broker refuses them (outside a transaction; inside one, the batches are sent after it
    commits and a refusal is only logged): the rows are committed as queued either way.
    """
    pending = Image.objects.filter(status=Status.PENDING)
    if image_ids is not None:
        pending = pending.filter(pk__in=list(image_ids))
    rows = list(
        pending.select_related("config", "prompt").prefetch_related(
            "config__adapter_links__adapter"
        )
    )
    keyed = sorted(((_batch_key(image_resolved_params(i)), i.pk) for i in rows), key=lambda r: r[0])
    batches: list[list[int]] = []
    size = max(1, settings.LOUPE_RENDER_BATCH)
    for _, group in groupby(keyed, key=lambda r: r[0]):
        ids = [pk for _, pk in group]
        batches.extend(ids[i : i + size] for i in range(0, len(ids), size))
    taken_batches: list[list[int]] = []
    for batch in batches:
        with transaction.atomic():
            taken = list(
                Image.objects.filter(pk__in=batch, status=Status.PENDING)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)
            )
            if not taken:
                continue
            # The queue lease lets the sweeper re-dispatch a batch whose message was lost
            # (broker restarted without persistence, publish failed after commit).
            Image.objects.filter(pk__in=taken, status=Status.PENDING).update(
                status=Status.QUEUED,
                lease_expires_at=timezone.now()
                + timedelta(seconds=settings.LOUPE_QUEUE_LEASE_SECONDS),
            )
        taken_batches.append(taken)
    if not taken_batches:
        return 0
    if transaction.get_connection().in_atomic_block:
        # Workers must not see the batch before the rows say queued.
        transaction.on_commit(partial(_send_batches_or_log, taken_batches))
    else:
        _send_batches(taken_batches)
    return len(taken_batches)


def _send_batches(batches: list[list[int]]) -> None:
    from generation.tasks import render_batch

    for index, image_ids in enumerate(batches):
        try:
            render_batch.delay(image_ids)
        except Exception as error:  # noqa: BLE001 - whatever the transport raises: not sent
            unsent = [pk for batch in batches[index:] for pk in batch]
            # Expire their queue lease now: the first sweep after the broker is back sends them.
            Image.objects.filter(pk__in=unsent, status=Status.QUEUED).update(
                lease_expires_at=timezone.now()
            )
            log.warning(
                "render queue unreachable (%s: %s): %d images left queued for the sweeper",
                type(error).__name__,
                error,
                len(unsent),
            )
            raise RenderQueueUnavailable(waiting=len(unsent)) from error


def _send_batches_or_log(batches: list[list[int]]) -> None:
    try:
        _send_batches(batches)
    except RenderQueueUnavailable:
        pass  # logged by _send_batches; the sweeper sends them when the broker is back


def images_dispatch_or_log(*, image_ids: Iterable[int] | None = None) -> int:
    """images_dispatch for callers with nobody to tell (workers, the sweeper): a broker
    outage is logged and left to the sweeper. Safe to run twice."""
    try:
        return images_dispatch(image_ids=image_ids)
    except RenderQueueUnavailable:
        return 0


def images_claim(*, image_ids: Sequence[int]) -> tuple[str, list[Image]]:
    """Atomically take queued or pending images for this worker. Safe against races:
    the UPDATE's WHERE clause decides, so two workers never hold the same image."""
    claim = secrets.token_hex(16)
    now = timezone.now()
    Image.objects.filter(pk__in=image_ids, status__in=[Status.PENDING, Status.QUEUED]).update(
        status=Status.RENDERING,
        claim=claim,
        lease_expires_at=now + timedelta(seconds=settings.LOUPE_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        worker_host=socket.gethostname(),
    )
    claimed = list(
        Image.objects.filter(claim=claim, status=Status.RENDERING)
        .select_related("config", "prompt")
        .order_by("pk")
    )
    return claim, claimed


def _encode(picture: PILImage) -> tuple[bytes, bytes]:
    master = io.BytesIO()
    picture.save(master, format="PNG")
    display = io.BytesIO()
    # A fresh RGB copy: nothing from the master (text chunks, params) travels to raters.
    picture.convert("RGB").save(display, format="WEBP", quality=92, method=4)
    return master.getvalue(), display.getvalue()


def image_store_result(
    *,
    image: Image,
    claim: str,
    picture: PILImage,
    seconds: float,
    params: dict[str, Any],
    versions: dict[str, str],
) -> bool:
    """Save the files and mark the image done — only if this worker still holds the claim.

    Returns False (and deletes the new files) when the lease was lost to another worker.
    """
    master_bytes, display_bytes = _encode(picture)
    master_name = default_storage.save(
        f"masters/{secrets.token_hex(16)}.png", ContentFile(master_bytes)
    )
    display_name = default_storage.save(
        f"img/{secrets.token_hex(16)}.webp", ContentFile(display_bytes)
    )
    won = Image.objects.filter(pk=image.pk, claim=claim, status=Status.RENDERING).update(
        status=Status.DONE,
        file=master_name,
        display_file=display_name,
        render_seconds=seconds,
        params=params,
        versions=versions,
        error="",
        lease_expires_at=None,
        rendered_at=timezone.now(),
    )
    if not won:
        default_storage.delete(master_name)
        default_storage.delete(display_name)
    return bool(won)


def image_record_failure(*, image: Image, claim: str, reason: str) -> str | None:
    """Back to pending for another try, or failed after LOUPE_MAX_ATTEMPTS. Returns new status."""
    final = image.attempts >= settings.LOUPE_MAX_ATTEMPTS
    status = Status.FAILED if final else Status.PENDING
    error = f"{reason} (attempt {image.attempts} of {settings.LOUPE_MAX_ATTEMPTS})"
    changed = Image.objects.filter(pk=image.pk, claim=claim, status=Status.RENDERING).update(
        status=status, error=error[:4000], lease_expires_at=None, claim=""
    )
    return status if changed else None


def worker_heartbeat(*, node: str, rendered: int = 0, seconds: float = 0.0) -> None:
    """Record that this worker is alive, and its throughput. Safe to run any number of times."""
    engine = _engine
    fields: dict[str, Any] = {"host": socket.gethostname(), "last_seen": timezone.now()}
    if engine is not None:
        fields["device"] = engine.describe_device()
        fields["models_loaded"] = engine.loaded_models()
    beat, _ = WorkerHeartbeat.objects.update_or_create(node=node, defaults=fields)
    if rendered:
        speed = rendered / seconds if seconds > 0 else None
        WorkerHeartbeat.objects.filter(pk=beat.pk).update(
            images_rendered=F("images_rendered") + rendered, images_per_second=speed
        )


def images_render(
    *,
    image_ids: Sequence[int],
    on_image: Callable[[Image, bool], None] | None = None,
    node: str | None = None,
) -> int:
    """Claim and render a batch. Safe to run twice: a second run claims nothing.

    Returns the number of images this call finished. Images that fail go back to pending
    (until their last attempt) and are dispatched again.
    """
    claim, images = images_claim(image_ids=image_ids)
    if not images:
        return 0
    from generation.engine import library_versions

    params = {image.pk: image_resolved_params(image) for image in images}
    reason = "Render failed without a reason"
    started = time.monotonic()
    try:
        results = get_engine().render([spec_from_params(params[i.pk]) for i in images])
    except Exception as exc:  # noqa: BLE001 - a bad batch must never kill the worker
        log.exception("render batch %s failed", [i.pk for i in images])
        results = None
        reason = f"Render failed: {type(exc).__name__}: {exc}"
    versions = library_versions()
    done = 0
    retry: list[int] = []
    for index, image in enumerate(images):
        result = results[index] if results is not None else None
        if result is not None and result.image is not None:
            ok = image_store_result(
                image=image,
                claim=claim,
                picture=result.image,
                seconds=result.seconds,
                params=params[image.pk],
                versions=versions,
            )
            done += ok
        else:
            why = result.error if result is not None and result.error else reason
            ok = False
            if image_record_failure(image=image, claim=claim, reason=why) == Status.PENDING:
                retry.append(image.pk)
        if on_image is not None:
            on_image(image, ok)
    if retry:
        transaction.on_commit(lambda: images_dispatch_or_log(image_ids=retry))
    worker_heartbeat(
        node=node or f"{socket.gethostname()}:{os.getpid()}",
        rendered=done,
        seconds=time.monotonic() - started,
    )
    if done and settings.LOUPE_SCORERS:
        from generation.services.scoring import images_score_enqueue

        # Its own task, so a scorer failure never undoes a render; it skips images not done.
        transaction.on_commit(partial(images_score_enqueue, image_ids=[i.pk for i in images]))
    return done


def leases_sweep() -> int:
    """Return images whose lease expired (their worker died, their message was lost) to the
    queue, and send every pending image. Safe to run twice."""
    now = timezone.now()
    # Queued too long: the message was lost (broker restart). No attempt was spent on it.
    lost = Image.objects.filter(status=Status.QUEUED, lease_expires_at__lt=now).update(
        status=Status.PENDING, lease_expires_at=None
    )
    expired = Q(status=Status.RENDERING, lease_expires_at__lt=now)
    failed = Image.objects.filter(expired, attempts__gte=settings.LOUPE_MAX_ATTEMPTS).update(
        status=Status.FAILED,
        claim="",
        lease_expires_at=None,
        error=f"Lease expired {settings.LOUPE_MAX_ATTEMPTS} times: the worker rendering it stopped.",
    )
    returned = Image.objects.filter(expired).update(
        status=Status.PENDING, claim="", lease_expires_at=None, error="Lease expired; re-queued."
    )
    # Always: pending images whose dispatch never happened (the web process died after the
    # commit, a retry's publish failed) are sent too. A no-op query when there are none.
    images_dispatch_or_log()
    return failed + returned + lost


def images_reset_failed(*, images: QuerySet[Image]) -> int:
    """The failed ones of these images back to pending, with a fresh set of attempts and no
    error (the old reason would read as the new attempt's). Sends nothing. Safe to run twice."""
    return images.filter(status=Status.FAILED).update(status=Status.PENDING, attempts=0, error="")


def images_retry(*, image_ids: Iterable[int]) -> int:
    """Give failed images a fresh set of attempts and queue them. Raises
    RenderQueueUnavailable (after committing) when the broker does not take them."""
    ids = list(image_ids)
    count = images_reset_failed(images=Image.objects.filter(pk__in=ids))
    transaction.on_commit(lambda: images_dispatch(image_ids=ids))
    return count
