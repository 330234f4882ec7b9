"""Media on S3-compatible storage: a real HTTP S3 server (moto's server mode) on loopback."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from django.core.files.storage import default_storage

from generation.models import Image
from ratings.services.studies import study_launch
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def test_rendered_images_land_in_the_bucket(
    s3_endpoint: str, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "loupe-media",
                "endpoint_url": s3_endpoint,
                "file_overwrite": False,
            },
        },
    }
    study = make_study(n_configs=2, seeds_per_prompt=1)
    with django_capture_on_commit_callbacks(execute=True):
        study_launch(study=study)
    images = list(Image.objects.all())
    assert [i.status for i in images] == ["done", "done"]
    keys = {
        o["Key"]
        for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="loupe-media")[
            "Contents"
        ]
    }
    assert keys == {i.file.name for i in images} | {i.display_file.name for i in images}
    url = default_storage.url(images[0].display_file.name)
    assert url.startswith(s3_endpoint) and "Signature" in url
