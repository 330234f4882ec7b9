from __future__ import annotations

from django import template
from django.db.models.fields.files import FieldFile

from generation.media import media_url as build_media_url

register = template.Library()


@register.filter
def media_url(file: FieldFile | str | None) -> str:
    """`{{ image.display_file|media_url }}`: the media view's address of a stored file."""
    return build_media_url(file)
