"""Researcher pages of the generation app (its API routes are in evalsite/api_urls.py).

Each group's routes are named `{group}-{key}` (evalsite/routes.py).
"""

from __future__ import annotations

from django.urls import URLPattern

from evalsite.routes import routes
from generation import series_views, views

prompt = {
    "list": ("", views.prompt_list),
    "new": ("new/", views.prompt_form),
    "import": ("import/", views.prompt_import),
    "edit": ("<int:pk>/edit/", views.prompt_form),
}
config = {
    "list": ("", views.config_list),
    "new": ("new/", views.config_new),
    "build": ("build/", views.config_build),
    "detail": ("<int:pk>/", views.config_detail),
    "edit": ("<int:pk>/edit/", views.config_edit),
}
# LoRA checkpoint series (generation/series_views.py); a series' studies: ratings/urls.py.
series = {
    "list": ("", series_views.series_index),
    "detail": ("<int:series_id>/", series_views.series_detail),
    "render": ("<int:series_id>/render/", series_views.series_render),
    "image": ("<int:series_id>/images/<int:image_id>/", series_views.series_image),
}

urlpatterns: list[URLPattern] = [
    *routes("prompts/", "prompt", prompt),
    *routes("adapters/", "adapter", {"list": ("", views.adapter_list)}),
    *routes("configs/", "config", config),
    *routes("series/", "series", series),
]
