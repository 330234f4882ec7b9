"""images_ensure: the one way a study, a best-of-N launch or a series grid gets its images."""

from __future__ import annotations

import math

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from generation.models import Image
from generation.services.images import images_ensure
from tests.factories import PromptFactory, make_config, make_image

pytestmark = pytest.mark.django_db


def test_creates_the_missing_images_and_reuses_the_rest() -> None:
    config, other = make_config(sampler="euler_a"), make_config(sampler="ddim")
    prompts = [PromptFactory() for _ in range(3)]
    kept = make_image(config=config, prompt=prompts[0], seed=5, status=Image.Status.DONE)
    keys = [(c.pk, p.pk, s) for c in (config, other) for p in prompts for s in (5, 6)]
    with transaction.atomic():
        first = images_ensure([*keys, keys[0]])  # a repeated key is one image
    assert (first.created, first.reused) == (11, 1)
    assert list(first.images) == keys
    assert first.images[(config.pk, prompts[0].pk, 5)].pk == kept.pk
    assert all((i.config_id, i.prompt_id, i.seed) == k for k, i in first.images.items())
    assert Image.objects.count() == 12
    again = images_ensure(keys)
    assert (again.created, again.reused) == (0, 12)
    assert {k: i.pk for k, i in again.images.items()} == {k: i.pk for k, i in first.images.items()}


@pytest.mark.parametrize("seeds", [2, 40])
def test_queries_do_not_grow_with_the_number_of_images(seeds: int) -> None:
    config = make_config(sampler="euler_a")
    prompts = [PromptFactory() for _ in range(2)]
    keys = [(config.pk, p.pk, s) for p in prompts for s in range(seeds)]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        ensured = images_ensure(keys)
    assert ensured.created == len(keys)
    # Two reads (what exists, then the new rows back) and the inserts in the database's
    # largest batches (PostgreSQL: one; SQLite: as many rows as its parameter limit allows).
    fields = [f for f in Image._meta.concrete_fields if not f.primary_key]
    batch = connection.ops.bulk_batch_size(fields, keys)
    sql = [q["sql"] for q in queries]
    assert sum(s.startswith("SELECT") for s in sql) == 2
    assert sum(s.startswith("INSERT") for s in sql) == math.ceil(len(keys) / batch)


def test_a_key_it_cannot_create_is_an_error_not_a_silent_gap() -> None:
    config = make_config(sampler="euler_a")
    prompt = PromptFactory()
    # PostgreSQL's ON CONFLICT does not cover a check; SQLite's INSERT OR IGNORE skips the row.
    with pytest.raises((IntegrityError, ValueError)), transaction.atomic():
        images_ensure([(config.pk, prompt.pk, -1)])  # breaks image_seed_range
    assert not Image.objects.exists()
