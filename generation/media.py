"""The one builder of a stored file's address: every image, master or reference on a page or a
card points at the media view (ratings.media), which checks who asks before serving it.

Storage's own `url()` is not used for pages, cards or the API: on S3 it is a signed link that
works for anyone who holds it, with no check of who asks.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import quote

from django.db.models.fields.files import FieldFile
from django.urls import get_script_prefix, reverse

#: The URL name of the view that serves stored files (ratings.media.media_file).
MEDIA_VIEW = "media"


@cache
def _route(script_prefix: str) -> str:
    # reverse() once per script prefix: the builder runs for every card of every vote.
    return reverse(MEDIA_VIEW, kwargs={"name": "x"})[:-1]


def image_url(image: Any) -> str | None:
    """Where an image is shown: its display copy, else its master; None before it renders."""
    return media_url(image.display_file or image.file) or None


def media_url(file: FieldFile | str | None) -> str:
    """The address of a stored file (a FileField's value or its name); '' for none."""
    name = file.name if isinstance(file, FieldFile) else file
    if not name:
        return ""
    return _route(get_script_prefix()) + quote(name)
