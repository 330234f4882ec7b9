"""The media view: who gets which stored file, and what the responses say about it."""

from __future__ import annotations

import io
import time
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import resolve
from PIL import Image as PILImage

from generation.models import Image
from ratings.media import clean_name, media_file, rater_may_see
from ratings.models import Presentation, ReferenceImage, Study
from ratings.rater_sql import cards
from ratings.services.judging import deck_deal
from tests.factories import rater, ready_study, researcher

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8), (200, 180, 90)).save(out, format="PNG")
    return out.getvalue()


def _card_images(study: Study, judge: Any) -> tuple[Image, Image]:
    card = deck_deal(rater=judge, study=study).current
    assert card is not None
    shown = Presentation.objects.select_related("comparison").get(pk=card.pk)
    return shown.comparison.image_a, shown.comparison.image_b


def _assert_private(response: Any) -> None:
    assert response["Cache-Control"].startswith("private")
    assert "Last-Modified" not in response
    assert "ETag" not in response


def test_media_file_serves_a_raters_card_image_privately() -> None:
    study = ready_study(n_configs=3)
    judge = rater(username="ray")
    left, _ = _card_images(study, judge)
    response = _client(judge).get(f"/media/{left.display_file.name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    with default_storage.open(left.display_file.name) as handle:
        assert b"".join(response.streaming_content) == handle.read()
    _assert_private(response)


def test_media_file_hides_images_of_a_study_closed_to_the_rater() -> None:
    ready_study(n_configs=2)
    hidden = ready_study(n_configs=2, open_to_raters=False)
    judge = rater(username="ray")
    image = hidden.comparisons.get().image_a
    response = _client(judge).get(f"/media/{image.display_file.name}")
    assert response.status_code == 404
    # The same image is there for a researcher: the 404 is about the rater, not the file.
    assert _client(researcher()).get(f"/media/{image.display_file.name}").status_code == 200


def test_media_file_keeps_a_card_issued_before_the_study_closed() -> None:
    study = ready_study(n_configs=2)
    judge = rater(username="ray")
    left, right = _card_images(study, judge)
    study.status = Study.Status.CLOSED
    study.save(update_fields=["status"])
    client = _client(judge)
    for image in (left, right):
        assert client.get(f"/media/{image.display_file.name}").status_code == 200


def test_media_file_serves_uncarded_images_of_an_open_study() -> None:
    study = ready_study(n_configs=3)
    judge = rater(username="ray")
    image = study.comparisons.last().image_b  # type: ignore[union-attr]
    assert not Presentation.objects.filter(rater=judge).exists()
    assert _client(judge).get(f"/media/{image.display_file.name}").status_code == 200


def test_media_file_never_gives_a_rater_masters_adapters_or_unknown_files() -> None:
    study = ready_study(n_configs=2)
    judge = rater(username="ray")
    left, _ = _card_images(study, judge)
    adapter = default_storage.save("adapters/threader.safetensors", ContentFile(b"weights"))
    client, lab = _client(judge), _client(researcher())
    for name in (left.file.name, adapter):
        assert client.get(f"/media/{name}").status_code == 404, name
        assert lab.get(f"/media/{name}").status_code == 200, name
    assert client.get("/media/img/no-such-file.webp").status_code == 404
    assert lab.get("/media/img/no-such-file.webp").status_code == 404


def test_media_file_serves_reference_pictures_of_the_raters_studies_only() -> None:
    mine = ready_study(n_configs=2)
    closed = ready_study(n_configs=2)
    other = ready_study(n_configs=2, open_to_raters=False)
    names = {}
    for study in (mine, closed, other):
        name = default_storage.save("reference/look.png", ContentFile(_png()))
        ReferenceImage.objects.create(study=study, image=name, caption="the look")
        names[study.pk] = name
    closed.status = Study.Status.CLOSED
    closed.save(update_fields=["status"])
    client = _client(rater(username="ray"))
    assert client.get(f"/media/{names[mine.pk]}").status_code == 200
    assert client.get(f"/media/{names[other.pk]}").status_code == 404
    # A closed study's guide still shows its pictures: they are served as the page is.
    guide = client.get(f"/rate/{closed.pk}/guide/").content.decode()
    assert names[closed.pk] in guide
    assert client.get(f"/media/{names[closed.pk]}").status_code == 200


def test_media_file_sends_anonymous_visitors_to_login() -> None:
    study = ready_study(n_configs=2)
    image = study.comparisons.get().image_a
    response = Client().get(f"/media/{image.display_file.name}")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_media_file_hands_the_file_to_the_proxy_with_accel_redirect(settings: Any) -> None:
    settings.LOUPE_MEDIA_ACCEL_REDIRECT = "/protected-media/"
    study = ready_study(n_configs=2)
    judge = rater(username="ray")
    left, _ = _card_images(study, judge)
    response = _client(judge).get(f"/media/{left.display_file.name}")
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected-media/{left.display_file.name}"
    assert response.content == b""
    assert response["Content-Type"] == "image/webp"
    _assert_private(response)
    # Refused requests are refused by the app: the proxy never sees them.
    assert _client(judge).get(f"/media/{left.file.name}").status_code == 404


def test_clean_name_refuses_paths_that_leave_the_store() -> None:
    assert clean_name("img/abc.webp") == "img/abc.webp"
    for bad in ("../secret", "img/../../etc/passwd", "/etc/passwd", "img//a.webp", "img/./a",
                "img\\a.webp", "", "img/a\x00.webp", ".."):  # fmt: skip
        assert clean_name(bad) is None, bad


def test_media_file_refuses_traversal_even_to_researchers(tmp_path: Any, settings: Any) -> None:
    (tmp_path / "secret.txt").write_text("key")
    client = _client(researcher())
    assert client.get("/media/../secret.txt").status_code == 404
    assert client.get("/media/img/%2e%2e/%2e%2e/secret.txt").status_code == 404


def test_rater_may_see_decides_in_one_query(django_assert_num_queries: Any) -> None:
    study = ready_study(n_configs=3)
    judge = rater(username="ray")
    left, _ = _card_images(study, judge)
    judge.refresh_from_db()
    with django_assert_num_queries(1):
        assert rater_may_see(user=judge, name=left.display_file.name)
    with django_assert_num_queries(1):
        assert not rater_may_see(user=judge, name="img/unknown.webp")
    with django_assert_num_queries(0):
        assert not rater_may_see(user=judge, name=left.file.name)


def test_cards_point_at_the_media_view() -> None:
    study = ready_study(n_configs=2)
    judge = rater(username="ray")
    card = deck_deal(rater=judge, study=study).current
    assert card is not None
    shown = cards([card.pk])[card.pk]
    for url in (shown.left_url, shown.right_url):
        assert url.startswith("/media/img/")
        assert resolve(url).func is media_file


def _s3(settings: Any, endpoint: str) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "loupe-media",
                "endpoint_url": endpoint,
                "file_overwrite": False,
                "querystring_auth": True,
            },
        },
    }


def test_media_file_redirects_to_a_short_lived_signed_url_on_s3(
    s3_endpoint: str,  # noqa: F811
    settings: Any,
) -> None:
    _s3(settings, s3_endpoint)
    settings.LOUPE_MEDIA_URL_SECONDS = 120
    study = ready_study(n_configs=2)
    judge = rater(username="ray")
    left, _ = _card_images(study, judge)
    response = _client(judge).get(f"/media/{left.display_file.name}")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{s3_endpoint}/loupe-media/{left.display_file.name}?")
    query = parse_qs(urlsplit(location).query)
    if "X-Amz-Expires" in query:  # signature version 4
        assert query["X-Amz-Expires"] == ["120"]
    else:  # version 2: the moment it expires
        assert abs(int(query["Expires"][0]) - (time.time() + 120)) < 10
    assert response["Cache-Control"] == "private, max-age=60"
    with urllib.request.urlopen(location, timeout=10) as fetched:  # noqa: S310 - loopback
        assert fetched.status == 200
        assert fetched.headers["Cache-Control"].startswith("private")
        with default_storage.open(left.display_file.name) as handle:
            assert fetched.read() == handle.read()
    # A rater still gets nothing signed for a file they may not see.
    assert _client(judge).get(f"/media/{left.file.name}").status_code == 404


def test_media_file_streams_from_s3_when_asked(
    s3_endpoint: str,  # noqa: F811
    settings: Any,
) -> None:
    _s3(settings, s3_endpoint)
    settings.LOUPE_MEDIA_S3_STREAM = True
    study = ready_study(n_configs=2)
    judge = rater(username="ray")
    left, _ = _card_images(study, judge)
    response = _client(judge).get(f"/media/{left.display_file.name}")
    assert response.status_code == 200
    with default_storage.open(left.display_file.name) as handle:
        assert b"".join(response.streaming_content) == handle.read()
    _assert_private(response)
