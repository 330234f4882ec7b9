"""Route tables: a group of views under one URL prefix, named `{names}-{key}` (key "": `{names}`).

Each app's urls.py (pages) and evalsite/api_urls.py (the API) declare their routes as groups,
so a route's name follows from its group and key instead of being spelled out beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.urls import URLPattern, path

View = Callable[..., Any]


def routes(
    prefix: str,
    names: str,
    table: Mapping[str, tuple[str, Any]],
    *,
    wrap: Callable[[Any], View] | None = None,
) -> list[URLPattern]:
    """`table`: key → (route under `prefix`, view); `wrap` turns each view into the callable."""
    return [
        path(
            prefix + route,
            wrap(view) if wrap else view,
            name=f"{names}-{key}" if key else names,
        )
        for key, (route, view) in table.items()
    ]
