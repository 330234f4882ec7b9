"""Bad uploads are refused with a clear message, and leave no row and no file behind.

A non-safetensors "adapter" (adapters page and API), a file over LOUPE_MAX_UPLOAD_MB (refused
from its size, never read), and a decompression-bomb image for a study's reference board
(the admin inline, the only path that takes one).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image as PILImage

from generation.models import LoraAdapter
from generation.validation import validate_image_pixels, validate_upload_size
from ratings.models import ReferenceImage, Study
from tests.factories import make_study, researcher

pytestmark = pytest.mark.django_db


# --- payloads --------------------------------------------------------------------------------


def safetensors_bytes(padding: int = 0) -> bytes:
    header = json.dumps(
        {
            "lora.down.weight": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]},
            "lora.up.weight": {"dtype": "F32", "shape": [2, 1], "data_offsets": [8, 16]},
            # safetensors refuses bytes after the tensors: the size is padded in the header.
            "__metadata__": {"pad": " " * padding},
        }
    ).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 16


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1-bit PNG of one colour: ~110 KB on disk, 900 million pixels decoded."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + one row of black
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 170, 90)).save(out, format="PNG")
    return out.getvalue()


NOT_SAFETENSORS = [
    ("weights.bin", safetensors_bytes(), "must be a .safetensors file"),
    ("weights.ckpt", b"\x80\x04\x95 a pickle, not tensors", "must be a .safetensors file"),
    ("pickle.safetensors", b"\x80\x04\x95" + b"\x00" * 64, "Not a readable safetensors file"),
    ("short.safetensors", b"\x01\x02", "Not a readable safetensors file"),
    ("lying.safetensors", struct.pack("<Q", 10**12) + b"{}", "Not a readable safetensors file"),
    ("empty-header.safetensors", struct.pack("<Q", 2) + b"{}", "Not a readable safetensors file"),
    ("image.safetensors", png(8, 8), "Not a readable safetensors file"),
]


# --- helpers ---------------------------------------------------------------------------------


def media_files(settings: Any) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def snapshot(settings: Any) -> tuple[int, int, list[Path]]:
    return LoraAdapter.objects.count(), ReferenceImage.objects.count(), media_files(settings)


@pytest.fixture
def researcher_client(client: Client) -> Client:
    client.force_login(researcher(username="uploader"))
    return client


@pytest.fixture
def admin_client_(client: Client, django_user_model: Any) -> Client:
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


@pytest.fixture
def never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading an uploaded file's content fails the test: the size alone must decide."""

    def refuse(self: File, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{self.name} was read")

    monkeypatch.setattr(File, "chunks", refuse)


# --- a non-safetensors "adapter" -------------------------------------------------------------


@pytest.mark.parametrize(("filename", "content", "message"), NOT_SAFETENSORS)
def test_adapter_page_refuses_a_non_safetensors_upload(
    researcher_client: Client, settings: Any, filename: str, content: bytes, message: str
) -> None:
    before = snapshot(settings)
    response = researcher_client.post(
        "/adapters/",
        {"name": "bad", "upload": SimpleUploadedFile(filename, content), "default_scale": "1"},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert snapshot(settings) == before


@pytest.mark.parametrize(("filename", "content", "message"), NOT_SAFETENSORS)
def test_adapter_api_refuses_a_non_safetensors_upload(
    researcher_client: Client, settings: Any, filename: str, content: bytes, message: str
) -> None:
    before = snapshot(settings)
    response = researcher_client.post(
        "/api/adapters/", {"name": "bad", "upload": SimpleUploadedFile(filename, content)}
    )
    assert response.status_code == 400
    assert any(message in m for m in response.json()["upload"]), response.json()
    assert snapshot(settings) == before


# --- an oversized file -----------------------------------------------------------------------


def test_adapter_page_refuses_an_oversized_file_without_reading_it(
    researcher_client: Client, settings: Any, never_read: None
) -> None:
    settings.LOUPE_MAX_UPLOAD_MB = 2
    # Past FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): Django spools it to a temporary file.
    big = SimpleUploadedFile("big.safetensors", safetensors_bytes(padding=3 * 2**20))
    before = snapshot(settings)
    response = researcher_client.post(
        "/adapters/", {"name": "big", "upload": big, "default_scale": "1"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "uploads are limited to 2 MB (LOUPE_MAX_UPLOAD_MB)" in page
    assert "The file is 3.0 MB" in page
    assert snapshot(settings) == before


def test_adapter_api_refuses_an_oversized_file_with_a_400(
    researcher_client: Client, settings: Any, never_read: None
) -> None:
    settings.LOUPE_MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("big.safetensors", safetensors_bytes(padding=2**20))
    before = snapshot(settings)
    response = researcher_client.post("/api/adapters/", {"name": "big", "upload": big})
    assert response.status_code == 400
    assert response.json() == {
        "upload": ["The file is 1.0 MB; uploads are limited to 1 MB (LOUPE_MAX_UPLOAD_MB)."]
    }
    assert snapshot(settings) == before


def test_adapter_just_under_the_limit_is_registered(
    researcher_client: Client, settings: Any
) -> None:
    settings.LOUPE_MAX_UPLOAD_MB = 1
    fits = SimpleUploadedFile("fits.safetensors", safetensors_bytes(padding=2**20 - 400))
    response = researcher_client.post("/api/adapters/", {"name": "fits", "upload": fits})
    assert response.status_code == 201, response.content
    assert LoraAdapter.objects.count() == 1 and len(media_files(settings)) == 1


# --- a decompression bomb for the reference board --------------------------------------------


def _admin_change_data(page: Any) -> dict[str, Any]:
    """The study's admin change form as a browser would send it back, unchanged."""
    data: dict[str, Any] = {}

    def add(form: Any, prefix: str = "") -> None:
        for name in form.fields:
            value = form[name].value()
            key = f"{prefix}{name}"
            if isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            elif value is not None:
                data[key] = str(value)

    add(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form, f"{formset.prefix}-")
        for index, form in enumerate(formset.forms):
            add(form, f"{formset.prefix}-{index}-")
    return data


def _post_reference(client: Client, study: Study, upload: SimpleUploadedFile) -> Any:
    url = f"/admin/ratings/study/{study.pk}/change/"
    data = _admin_change_data(client.get(url))
    data.update({
        "reference_images-TOTAL_FORMS": "1",
        "reference_images-0-image": upload,
        "reference_images-0-caption": "Clean hoop",
        "reference_images-0-order": "0",
    })  # fmt: skip
    return client.post(url, data)


def test_admin_saves_a_sane_reference_image(admin_client_: Client, settings: Any) -> None:
    study = make_study(n_configs=2)
    response = _post_reference(admin_client_, study, SimpleUploadedFile("ok.png", png(64, 48)))
    assert response.status_code == 302, response.context["inline_admin_formsets"][1].formset.errors
    assert ReferenceImage.objects.get().caption == "Clean hoop"
    assert len(media_files(settings)) == 1


def test_admin_refuses_a_decompression_bomb(admin_client_: Client, settings: Any) -> None:
    study = make_study(n_configs=2)
    bomb = png_bomb()
    assert len(bomb) < 200_000  # 900 million pixels in a small file
    before = snapshot(settings)
    response = _post_reference(admin_client_, study, SimpleUploadedFile("bomb.png", bomb))
    assert response.status_code == 200
    page = response.content.decode()
    assert "images are limited to 50 megapixels (LOUPE_MAX_IMAGE_PIXELS)" in page
    assert "decompression bombs" in page
    assert snapshot(settings) == before


def test_admin_refuses_an_image_over_the_pixel_limit_naming_its_size(
    admin_client_: Client, settings: Any
) -> None:
    settings.LOUPE_MAX_IMAGE_PIXELS = 5_000
    study = make_study(n_configs=2)
    before = snapshot(settings)
    response = _post_reference(admin_client_, study, SimpleUploadedFile("big.png", png(100, 80)))
    assert response.status_code == 200
    assert "The image is 100 × 80 pixels; images are limited to 0.005 megapixels" in (
        response.content.decode()
    )
    assert snapshot(settings) == before


def test_admin_refuses_a_file_that_is_not_an_image(admin_client_: Client, settings: Any) -> None:
    study = make_study(n_configs=2)
    before = snapshot(settings)
    fake = SimpleUploadedFile("fake.png", b"<script>alert(1)</script>")
    response = _post_reference(admin_client_, study, fake)
    assert response.status_code == 200
    assert "Upload a valid image" in response.content.decode()
    assert snapshot(settings) == before


def test_admin_refuses_an_oversized_reference_image(admin_client_: Client, settings: Any) -> None:
    settings.LOUPE_MAX_UPLOAD_MB = 1
    study = make_study(n_configs=2)
    before = snapshot(settings)
    heavy = SimpleUploadedFile("heavy.png", png(8, 8) + b"\x00" * 2**20)
    response = _post_reference(admin_client_, study, heavy)
    assert response.status_code == 200
    assert "uploads are limited to 1 MB (LOUPE_MAX_UPLOAD_MB)" in response.content.decode()
    assert snapshot(settings) == before


def test_validate_image_pixels_reads_only_the_header() -> None:
    bomb = File(io.BytesIO(png_bomb()), name="bomb.png")
    with pytest.raises(ValidationError, match="LOUPE_MAX_IMAGE_PIXELS"):
        validate_image_pixels(bomb)
    assert bomb.tell() == 0  # rewound for whoever reads it next
    validate_image_pixels(File(io.BytesIO(png(10, 10)), name="ok.png"))
    validate_image_pixels(File(io.BytesIO(b"not an image"), name="x.png"))  # the field's call


def test_upload_validators_work_on_a_model_field_file() -> None:
    """So they can sit on ReferenceImage.image as model validators (admin, forms, services)."""
    study = make_study(n_configs=2)
    reference = ReferenceImage(study=study, image=SimpleUploadedFile("bomb.png", png_bomb()))
    validate_upload_size(reference.image)
    with pytest.raises(ValidationError, match="LOUPE_MAX_IMAGE_PIXELS"):
        validate_image_pixels(reference.image)
    assert ReferenceImage.objects.count() == 0


# --- a name taken between the check and the insert -------------------------------------------


def test_adapter_upload_that_loses_the_name_race_says_so_and_keeps_no_file(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generation.services.adapters import adapter_upload

    LoraAdapter.objects.create(name="phol", weights="w.safetensors", sha256="b" * 64)
    # The uniqueness check passes, as it does for two requests racing for one name: the
    # database's unique constraint is what refuses the second insert.
    monkeypatch.setattr(LoraAdapter, "validate_unique", lambda self, exclude=None: None)
    before = snapshot(settings)
    with pytest.raises(ValidationError) as refused:
        adapter_upload(name="phol", upload=SimpleUploadedFile("w.safetensors", safetensors_bytes()))
    assert "already exists" in refused.value.message_dict["name"][0]
    assert snapshot(settings) == before
