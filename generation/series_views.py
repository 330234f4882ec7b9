"""Researcher pages for LoRA checkpoint series: the list and registration, the evolution
grid (prompts × checkpoints, same seeds) with its rendering, and the loupe on one image."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from evalsite.web import HtmxHttpRequest, add_errors, human_seconds, researcher_required
from generation.models import CheckpointSeries
from generation.series_forms import SeriesRegisterForm, SeriesRenderForm
from generation.series_selectors import series_grid, series_list, series_loupe
from generation.services.rendering import RenderQueueUnavailable
from generation.services.series import series_grid_render, series_register

POLL_SECONDS = 2


@researcher_required
@require_http_methods(["GET", "POST"])
def series_index(request: HtmxHttpRequest) -> HttpResponse:
    form = SeriesRegisterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            series = series_register(
                name=data["name"],
                folder=data["folder"],
                base_config=data["base_config"],
                scale=data["scale"],
                trigger_token=data["trigger_token"],
                loss_csv=data["loss_file"],
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            count = series.checkpoints.count()
            messages.success(
                request,
                f"Registered {series.name}: {count} checkpoints"
                + (f" and {len(series.loss_log)} loss rows." if series.loss_log else "."),
            )
            return redirect("series-detail", series_id=series.pk)
    return render(request, "generation/series/list.html", {"form": form, "series": series_list()})


def _grid_context(series: CheckpointSeries, form: SeriesRenderForm) -> dict[str, object]:
    grid = series_grid(series=series)
    return {
        "series": series,
        "grid": grid,
        "form": form,
        "poll": grid.rendering,
        "poll_seconds": POLL_SECONDS,
        "eta": human_seconds(grid.progress.eta_seconds),
        "cols": len(grid.checkpoints),
    }


@researcher_required
@vary_on_headers("HX-Request")
def series_detail(request: HtmxHttpRequest, series_id: int) -> HttpResponse:
    series = get_object_or_404(CheckpointSeries.objects.select_related("base_config"), pk=series_id)
    context = _grid_context(series, SeriesRenderForm(initial={"prompts": []}))
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "generation/series/detail.html#grid", context)
        # 286: htmx swaps this last fragment in and stops polling.
        return response if context["poll"] else HttpResponseStopPolling(response.content)
    return render(request, "generation/series/detail.html", context)


@researcher_required
@require_POST
def series_render(request: HtmxHttpRequest, series_id: int) -> HttpResponse:
    series = get_object_or_404(CheckpointSeries, pk=series_id)
    form = SeriesRenderForm(request.POST)
    if form.is_valid():
        try:
            created, reused = series_grid_render(
                series=series,
                prompts=list(form.cleaned_data["prompts"]),
                seeds=form.cleaned_data["seeds"],
            )
        except ValidationError as error:
            add_errors(form, error)
        except RenderQueueUnavailable as error:
            messages.warning(request, f"Images created. {error}")
            return redirect("series-detail", series_id=series.pk)
        else:
            messages.success(
                request, f"Rendering the grid: {created} new images ({reused} already there)."
            )
            return redirect("series-detail", series_id=series.pk)
    return render(request, "generation/series/detail.html", _grid_context(series, form), status=400)


@researcher_required
def series_image(request: HtmxHttpRequest, series_id: int, image_id: int) -> HttpResponse:
    series = get_object_or_404(CheckpointSeries, pk=series_id)
    view = series_loupe(series=series, image_id=image_id)
    if view is None:
        raise Http404("No such image in this series.")
    return render(request, "generation/series/loupe.html", {"series": series, "view": view})
