"""Researcher pages: prompt library, LoRA registry, configurations and the factor builder."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from evalsite.web import HtmxHttpRequest, add_errors, human_seconds, researcher_required
from generation.forms import (
    ATTRIBUTES,
    AdapterForm,
    ConfigForm,
    FactorBuilderForm,
    PromptFilterForm,
    PromptForm,
    PromptImportForm,
)
from generation.models import ConfigImmutableError, GenerationConfig, LoraAdapter, Prompt
from generation.selectors import (
    builder_preview,
    config_neighbours,
    config_thumbnail_grid,
    prompts_filtered,
)
from generation.services.adapters import adapter_add
from generation.services.configs import (
    config_create,
    config_drafts_validate,
    config_update,
    configs_create_from_drafts,
)
from generation.services.prompts import (
    PROMPT_CSV_COLUMNS,
    PROMPT_CSV_HELP,
    prompt_copy_fields,
    prompts_import_csv,
)

# --- Prompts ---------------------------------------------------------------------------------


@researcher_required
@vary_on_headers("HX-Request")
def prompt_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = PromptFilterForm(request.GET or None)
    values = filters.cleaned_data if filters.is_valid() else {}
    prompts = prompts_filtered(
        q=values.get("q", ""), **{name: values.get(name, "") for name in ATTRIBUTES}
    )
    context = {
        "filters": filters,
        "prompts": prompts,
        "total": Prompt.objects.count(),
        "filtered": any(values.values()),
        "csv_help": PROMPT_CSV_HELP,
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "generation/prompts.html#prompt-table", context)
    return render(request, "generation/prompts.html", context)


@researcher_required
@require_http_methods(["GET", "POST"])
def prompt_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    prompt = get_object_or_404(Prompt, pk=pk) if pk is not None else None
    source = request.GET.get("copy", "")
    initial = {}
    if prompt is None and source.isdecimal() and len(source) < 19:
        copied = get_object_or_404(Prompt, pk=int(source))
        initial = {**prompt_copy_fields(prompt=copied), "key_terms": "; ".join(copied.key_terms)}
    form = PromptForm(request.POST or None, instance=prompt, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Prompt {'saved' if prompt else 'created'}: {saved}")
        return redirect("prompt-list")
    return render(request, "generation/prompt_form.html", {"form": form, "prompt": prompt})


@researcher_required
@require_http_methods(["GET", "POST"])
def prompt_import(request: HttpRequest) -> HttpResponse:
    form = PromptImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            created = prompts_import_csv(text=form.cleaned_data["file"].read().decode("utf-8"))
        except UnicodeDecodeError:
            problems = ["The file is not UTF-8 text: save the CSV as UTF-8 and try again."]
        except ValidationError as error:
            problems = error.messages
        else:
            messages.success(request, f"Imported {len(created)} prompts.")
            return redirect("prompt-list")
    context = {"form": form, "problems": problems, "csv_header": ",".join(PROMPT_CSV_COLUMNS)}
    return render(request, "generation/prompt_import.html", context)


# --- Adapters --------------------------------------------------------------------------------


@researcher_required
@require_http_methods(["GET", "POST"])
def adapter_list(request: HttpRequest) -> HttpResponse:
    form = AdapterForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            adapter = adapter_add(
                name=data["name"],
                upload=data["upload"] or None,
                weights=data["path"],
                trigger_token=data["trigger_token"],
                default_scale=data["default_scale"],
            )
        except ValidationError as error:
            if hasattr(error, "error_dict") and "weights" in error.error_dict:
                form.add_error("path", error.error_dict.pop("weights"))
            add_errors(form, error)
        else:
            messages.success(
                request, f"Registered adapter {adapter.name} (sha256 {adapter.sha256[:12]}…)."
            )
            return redirect("adapter-list")
    adapters = LoraAdapter.objects.annotate(n_configs=Count("config_links")).order_by("name")
    return render(request, "generation/adapters.html", {"form": form, "adapters": adapters})


# --- Configurations --------------------------------------------------------------------------


@researcher_required
def config_list(request: HttpRequest) -> HttpResponse:
    configs = (
        GenerationConfig.objects.annotate(
            n_images=Count("images", distinct=True), n_studies=Count("studies", distinct=True)
        )
        .prefetch_related("adapter_links__adapter")
        .order_by("pk")
    )
    new = {int(i) for i in request.GET.get("new", "").split(",") if i.isdecimal()}
    return render(request, "generation/configs.html", {"configs": configs, "new": new})


@researcher_required
@require_http_methods(["GET", "POST"])
def config_new(request: HttpRequest) -> HttpResponse:
    source: GenerationConfig | None = None
    if request.method == "GET" and request.GET.get("from"):
        if not request.GET["from"].isdecimal():
            raise Http404("No such configuration.")
        source = get_object_or_404(GenerationConfig, pk=int(request.GET["from"]))
    if source is not None:
        initial = {**source.params(), "name": f"{source.name or 'config'} (copy)"}
        scales = {link.adapter_id: link.scale for link in source.adapter_links.all()}
        form = ConfigForm(initial=initial, adapter_scales=scales)
    else:
        form = ConfigForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            config, created = config_create(
                name=form.cleaned_data["name"], adapters=form.adapter_choice(), **form.params()
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            if created:
                messages.success(request, f"Created configuration {config.pk}.")
            else:
                messages.info(
                    request,
                    f"Identical settings already exist as configuration {config.pk} "
                    f"({config}): reused it instead of making a duplicate.",
                )
            return redirect("config-detail", pk=config.pk)
    context = {"form": form, "source": source, "config": None}
    return render(request, "generation/config_form.html", context)


@researcher_required
@require_http_methods(["GET", "POST"])
def config_edit(request: HttpRequest, pk: int) -> HttpResponse:
    config = get_object_or_404(GenerationConfig, pk=pk)
    scales = {link.adapter_id: link.scale for link in config.adapter_links.all()}
    # A separate instance: the ModelForm writes the posted values onto the one it holds.
    form = ConfigForm(
        request.POST or None,
        instance=GenerationConfig.objects.get(pk=pk),
        adapter_scales=scales,
    )
    if request.method == "POST" and form.is_valid():
        try:
            config_update(
                config=config,
                name=form.cleaned_data["name"],
                adapters=form.adapter_choice(),
                **form.params(),
            )
        except ConfigImmutableError as error:
            form.add_error(None, error.messages)
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Saved configuration {config.pk}.")
            return redirect("config-detail", pk=config.pk)
    context = {"form": form, "config": config, "rendered": config.has_rendered()}
    return render(request, "generation/config_form.html", context)


@researcher_required
@vary_on_headers("HX-Request")
def config_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    config = get_object_or_404(
        GenerationConfig.objects.prefetch_related("adapter_links__adapter"), pk=pk
    )
    columns = config_neighbours(config=config)
    seed_param = request.GET.get("seed", "")
    seeds, seed, rows = config_thumbnail_grid(
        config_ids=[c.pk for c in columns],
        seed=int(seed_param) if seed_param.isdecimal() else None,
    )
    context = {
        "config": config,
        "columns": columns,
        "seeds": seeds,
        "seed": seed,
        "rows": rows,
        "rendered": config.has_rendered(),
        "studies": config.studies.all(),
        "images": config.images.values_list("status").annotate(n=Count("pk")).order_by(),
    }
    if request.htmx and not request.htmx.history_restore_request and request.GET.get("seed"):
        return render(request, "generation/config_detail.html#grid", context)
    return render(request, "generation/config_detail.html", context)


def _builder_preview(form: FactorBuilderForm) -> dict[str, Any]:
    drafts = form.drafts()
    try:
        config_drafts_validate(drafts=drafts)
    except ValidationError as error:
        return {"preview_errors": error.messages, "drafts": []}
    preview = builder_preview(
        drafts=drafts, prompts=form.cleaned_data["prompts"], seeds=form.cleaned_data["seeds"]
    )
    return {
        "drafts": [
            {"draft": d, "existing": preview.existing.get(d.fingerprint), "levels": d.levels}
            for d in drafts
        ],
        "factors": list(drafts[0].levels) if drafts else [],
        "reused": preview.reused,
        "collapsed": sum(len(d.same_as) for d in drafts),
        "counts": [{"row": c, "duration": human_seconds(c.seconds)} for c in preview.counts],
        "estimate": preview.estimate,
    }


@researcher_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def config_build(request: HtmxHttpRequest) -> HttpResponse:
    form = FactorBuilderForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "previewed": request.method == "POST"}
    if request.method == "POST":
        if form.is_valid():
            context.update(_builder_preview(form))
            if request.POST.get("action") == "create" and not context.get("preview_errors"):
                results = configs_create_from_drafts(drafts=form.drafts())
                created = [c for c, was_created in results if was_created]
                reused = [c for c, was_created in results if not was_created]
                messages.success(request, f"Created {len(created)} configurations.")
                if reused:
                    messages.info(
                        request,
                        f"Reused {len(reused)} existing configuration(s) with identical "
                        f"settings: {', '.join(str(c.pk) for c in reused)}.",
                    )
                ids = ",".join(str(c.pk) for c, _ in results)
                return redirect(f"{_url('config-list')}?new={ids}")
        else:
            context["preview_errors"] = _error_lines(form)
        if request.htmx:
            return render(request, "generation/config_build.html#preview", context)
    return render(request, "generation/config_build.html", context)


def _url(name: str) -> str:
    return reverse(name)


def _error_lines(form: Any) -> list[str]:
    lines: list[str] = []
    for field, errors in form.errors.items():
        label = form.fields[field].label or field.replace("_", " ") if field in form.fields else ""
        lines.extend(f"{str(label).capitalize()}: {e}" if label else e for e in errors)
    return lines
