"""The media view: stored files (images, masters, reference pictures, adapters) for whoever
may see them, and a 404 for everyone else (a 403 would confirm that the file exists).

Researchers see every file. A rater sees a display image only if it is on a card issued to
them or in a study open to them, and a reference picture only of a study open to them; never
a PNG master, an adapter or any other file (masters and adapters carry the recipe). One query
decides. The card's own URL costs the rating path nothing: the check runs here, on the image
request.

How the bytes leave: through the front proxy (`X-Accel-Redirect` under
LOUPE_MEDIA_ACCEL_REDIRECT), as a redirect to a short-lived signed URL (S3-compatible storage),
or streamed by the app. Responses carry no Last-Modified or ETag: render times would group
a pair's images by render batch, and so by configuration.
"""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef, Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.views.decorators.http import require_safe

from evalsite.roles import is_researcher
from generation.models import Image
from ratings.models import ChecklistImage, Comparison, Presentation, ReferenceImage
from ratings.selectors import studies_for_rater

DISPLAY_FOLDER: str = Image._meta.get_field("display_file").upload_to  # type: ignore[attr-defined,assignment]
REFERENCE_FOLDER: str = ReferenceImage._meta.get_field("image").upload_to  # type: ignore[attr-defined,assignment]
# Names never change (random, written once), so a private cache may keep the bytes a while.
CACHE_CONTROL = "private, max-age=3600"


def clean_name(name: str) -> str | None:
    """The stored name asked for, or None when it is not one (a path escaping the store)."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    if posixpath.normpath(name) != name or name.startswith(".."):
        return None
    return name


def rater_may_see(*, user: Any, name: str) -> bool:
    """Whether a rater (or anyone not a researcher) may fetch this stored file: one query."""
    if name.startswith(DISPLAY_FOLDER):
        on_pair = Q(image_a=OuterRef("pk")) | Q(image_b=OuterRef("pk"))
        on_card = Presentation.objects.filter(
            Q(comparison__image_a=OuterRef("pk")) | Q(comparison__image_b=OuterRef("pk")),
            rater=user,
        )
        in_open_study = Comparison.objects.filter(on_pair, study__in=studies_for_rater(user=user))
        in_open_checklist = ChecklistImage.objects.filter(
            image=OuterRef("pk"), study__in=studies_for_rater(user=user)
        )
        return (
            Image.objects.filter(display_file=name)
            .filter(Exists(on_card) | Exists(in_open_study) | Exists(in_open_checklist))
            .exists()
        )
    if name.startswith(REFERENCE_FOLDER):
        # The rating page shows a closed study's guide too (ratings.views.rate): its pictures.
        return ReferenceImage.objects.filter(
            image=name, study__in=studies_for_rater(user=user, closed_too=True)
        ).exists()
    return False


def _private(response: HttpResponseBase) -> HttpResponseBase:
    response["Cache-Control"] = CACHE_CONTROL
    for header in ("Last-Modified", "ETag"):
        if header in response:
            del response[header]
    return response


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _is_local(storage: Any) -> bool:
    try:
        storage.path("x")
    except NotImplementedError:
        return False
    return True


@require_safe
def media_file(request: HttpRequest, name: str) -> HttpResponseBase:
    """A stored file, if the signed-in user may see it; 404 otherwise (and if it is missing)."""
    cleaned = clean_name(name)
    if cleaned is None:
        raise Http404
    if not is_researcher(request.user) and not rater_may_see(user=request.user, name=cleaned):
        raise Http404
    storage: Any = default_storage
    accel: str = getattr(settings, "LOUPE_MEDIA_ACCEL_REDIRECT", "")
    if accel and _is_local(storage):
        response = HttpResponse(content_type=_content_type(cleaned))
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(cleaned)
        return _private(response)
    if not _is_local(storage) and not getattr(settings, "LOUPE_MEDIA_S3_STREAM", False):
        seconds: int = getattr(settings, "LOUPE_MEDIA_URL_SECONDS", 300)
        signed = storage.url(
            cleaned,
            expire=seconds,
            parameters={"ResponseCacheControl": CACHE_CONTROL},
        )
        redirect = HttpResponseRedirect(signed)
        # The browser may reuse the redirect only while the signed URL is still good.
        redirect["Cache-Control"] = f"private, max-age={max(seconds // 2, 0)}"
        return redirect
    try:
        handle = storage.open(cleaned, "rb")
    except (FileNotFoundError, SuspiciousFileOperation) as missing:
        raise Http404 from missing
    return _private(FileResponse(handle, content_type=_content_type(cleaned)))
