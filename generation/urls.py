"""Researcher pages of the generation app (its API routes are in evalsite/api_urls.py)."""

from __future__ import annotations

from django.urls import URLPattern, path

from generation import series_views, views

urlpatterns: list[URLPattern] = [
    path("prompts/", views.prompt_list, name="prompt-list"),
    path("prompts/new/", views.prompt_form, name="prompt-new"),
    path("prompts/import/", views.prompt_import, name="prompt-import"),
    path("prompts/<int:pk>/edit/", views.prompt_form, name="prompt-edit"),
    path("adapters/", views.adapter_list, name="adapter-list"),
    path("configs/", views.config_list, name="config-list"),
    path("configs/new/", views.config_new, name="config-new"),
    path("configs/build/", views.config_build, name="config-build"),
    path("configs/<int:pk>/", views.config_detail, name="config-detail"),
    path("configs/<int:pk>/edit/", views.config_edit, name="config-edit"),
]

# LoRA checkpoint series (generation/series_views.py); a series' studies: ratings/urls.py.
urlpatterns += [
    path("series/", series_views.series_index, name="series-list"),
    path("series/<int:series_id>/", series_views.series_detail, name="series-detail"),
    path("series/<int:series_id>/render/", series_views.series_render, name="series-render"),
    path(
        "series/<int:series_id>/images/<int:image_id>/",
        series_views.series_image,
        name="series-image",
    ),
]
