"""Media on S3-compatible storage: a real HTTP S3 server (moto's server mode) on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.files.storage import default_storage

from generation.models import Image
from ratings.services.studies import study_launch
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="loupe-media")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
