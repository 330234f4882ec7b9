"""The study dashboard (researchers): win rates, leaderboard, factor effects, raters, pairs.

Every route of the analysis area lives here, pages and API alike, with full paths.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, URLResolver, path, reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from evalsite.roles import is_researcher
from evalsite.web import HtmxHttpRequest
from generation.media import media_url
from generation.models import Image
from ratings import analysis_apis, charts, reports
from ratings.models import Study
from ratings.reports.stopping import study_stopping
from ratings.services.raters import rater_exclude, rater_restore

PAIRS_PER_PAGE = 12
OUTCOME_FILTERS = (
    ("", "Any outcome"),
    ("a", "Left-listed image won"),
    ("b", "Right-listed image won"),
    ("split", "Split votes"),
    ("tie", "Has a tie"),
    ("both_bad", "Has “both bad”"),
    ("all", "All pairs, judged or not"),
)


def _researcher_study(request: HttpRequest, study_id: int) -> Study:
    if not is_researcher(request.user):
        raise PermissionDenied("Only researchers can read a study's analysis.")
    return get_object_or_404(Study, pk=study_id)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _image_url(image: Image) -> str | None:
    return media_url(image.display_file or image.file) or None


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _pct1(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _dashboard_context(
    request: HttpRequest, study: Study, criterion_key: str | None = None
) -> dict[str, Any]:
    criteria = list(study.criteria.all())
    key = request.GET.get("criterion", "") if criterion_key is None else criterion_key
    criterion = next((c for c in criteria if c.key == key), None)
    win = reports.study_win_rates(study=study, criterion=criterion)
    board = reports.study_leaderboard(study=study, criterion=criterion)
    effects = reports.study_factor_effects(study=study, criterion=criterion)
    raters = reports.study_raters(study=study)
    metrics = reports.study_metric_agreement(study=study, criterion=criterion)
    configs = reports.study_configs(study=study)

    win_rows = [
        (
            row,
            charts.interval_bar(
                row.win_rate,
                row.ci_low,
                row.ci_high,
                label=f"{row.factor_label} {row.level_label}: "
                f"{_pct(row.win_rate or 0)} ({_pct(row.ci_low)}–{_pct(row.ci_high)})",
            ),
        )
        for row in win.rows
    ]
    forest = (
        charts.forest_plot(
            [
                charts.ForestRow(
                    label=f"#{r.rank} {r.name or r.label}",
                    point=r.strength,
                    low=r.ci_low,
                    high=r.ci_high,
                    note=f"best {_pct(r.p_best)}",
                    emphasis=r.config_id == board.baseline_id,
                )
                for r in board.rows
            ],
            title="Bradley–Terry leaderboard with 95 % intervals",
            axis_label="strength (log-odds against the average configuration)",
            reference=0.0,
        )
        if board.rows
        else None
    )
    effects_chart = (
        charts.forest_plot(
            [
                charts.ForestRow(
                    label=f"{r.factor_label}: {r.level_label} (vs {r.reference_label})",
                    point=r.p_vs_baseline,
                    low=r.p_low,
                    high=r.p_high,
                    note=f"β {r.beta:+.2f}",
                )
                for r in effects.rows
            ],
            title="Factor effects: model-implied win probability against the baseline",
            axis_label="P(beats the baseline), sides balanced",
            reference=0.5,
            lo=0.0,
            hi=1.0,
            ticks=[0, 0.25, 0.5, 0.75, 1.0],
            tick_format="{:.0%}",
        )
        if effects.rows
        else None
    )

    metric_rows = [
        (
            row,
            charts.interval_bar(
                row.agreement,
                row.ci_low if row.ci_low is not None else 0.0,
                row.ci_high if row.ci_high is not None else 1.0,
                label=f"{row.metric}: {_pct(row.agreement or 0)} agreement with people",
            )
            if row.agreement is not None
            else None,
            _pct1(row.agreement),
        )
        for row in metrics.rows
    ]
    ceiling_bar = (
        charts.interval_bar(
            metrics.ceiling,
            metrics.ceiling_low if metrics.ceiling_low is not None else 0.0,
            metrics.ceiling_high if metrics.ceiling_high is not None else 1.0,
            label=f"people against themselves: {_pct(metrics.ceiling)}",
        )
        if metrics.ceiling is not None
        else None
    )

    config_filter = _int_or_none(request.GET.get("config"))
    outcome = request.GET.get("outcome", "")
    if outcome not in dict(OUTCOME_FILTERS):
        outcome = ""
    page = max(1, _int_or_none(request.GET.get("page")) or 1)
    pairs, pair_total = reports.study_pairs(
        study=study,
        criterion=criterion,
        config_id=config_filter,
        outcome=outcome or None,
        limit=PAIRS_PER_PAGE,
        offset=(page - 1) * PAIRS_PER_PAGE,
    )
    pair_cards = [
        {
            "pair": p,
            "a_url": _image_url(p.comparison.image_a),
            "b_url": _image_url(p.comparison.image_b),
            "a_config": configs.get(p.config_a),
            "b_config": configs.get(p.config_b),
        }
        for p in pairs
    ]
    judgments = reports.judgment_count(study=study)
    api = {
        name: reverse(f"api-study-{name}", args=[study.pk])
        for name in (
            "win-rates",
            "leaderboard",
            "factor-effects",
            "raters",
            "metrics",
            "csv",
            "jsonl",
        )
    }
    query = f"?criterion={criterion.key}" if criterion else ""
    return {
        "study": study,
        "criteria": criteria,
        "criterion": criterion,
        "win": win,
        "win_rows": win_rows,
        "descriptive_rows": sum(1 for r in win.rows if r.descriptive),
        "board": board,
        "forest": forest,
        "effects": effects,
        "effects_chart": effects_chart,
        "raters": raters,
        "metrics": metrics,
        "metric_rows": metric_rows,
        "ceiling_bar": ceiling_bar,
        "ceiling_text": _pct1(metrics.ceiling),
        "configs": sorted(configs.values(), key=lambda c: c.id),
        "pair_cards": pair_cards,
        "pair_total": pair_total,
        "pair_page": page,
        "pair_pages": max(1, -(-pair_total // PAIRS_PER_PAGE)),
        "config_filter": config_filter,
        "outcome": outcome,
        "outcome_filters": OUTCOME_FILTERS,
        "judgments_total": judgments,
        "api": api,
        "query": query,
        "stopping": study_stopping(study=study, criterion=criterion),
    }


@require_GET
@vary_on_headers("HX-Request")
def study_analysis(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    study = _researcher_study(request, study_id)
    key = request.GET.get("criterion", "")
    # Compared in Python: PostgreSQL refuses a NUL character in a query.
    if key and key not in study.criteria.values_list("key", flat=True):
        messages.error(request, f"Unknown criterion {key!r}: showing all.")
    context = _dashboard_context(request, study)
    template = "ratings/analysis/dashboard.html"
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == "pairs":
            template += "#pairs"
        elif request.htmx.target == "dashboard":
            template += "#dashboard"
    return render(request, template, context)


@require_POST
def study_rater_toggle(request: HtmxHttpRequest, study_id: int, rater_id: int) -> HttpResponse:
    study = _researcher_study(request, study_id)
    user = get_object_or_404(get_user_model(), pk=rater_id)
    action = request.POST.get("action")
    try:
        if action == "exclude":
            rater_exclude(study=study, rater=user, actor=request.user)
            note = f"{user.get_username()} is left out of every figure; their votes are kept."
        elif action == "restore":
            rater_restore(study=study, rater=user, actor=request.user)
            note = f"{user.get_username()}'s votes count again."
        else:
            return HttpResponse("action must be 'exclude' or 'restore'.", status=400)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        note = ""
    if request.htmx:
        context = _dashboard_context(request, study, request.POST.get("criterion", "")) | {
            "rater_note": note
        }
        return render(request, "ratings/analysis/dashboard.html#dashboard", context)
    if note:
        messages.success(request, note)
    url = reverse("study-analysis", args=[study.pk])
    if request.POST.get("criterion"):
        url += "?" + urlencode({"criterion": request.POST["criterion"]})
    return redirect(url + "#raters")


def _api(view: type[analysis_apis.APIView]) -> Any:
    # DRF authenticates (session or token) and answers 401/403 itself: the site-wide
    # login redirect would turn a token client's request into an HTML login page.
    return login_not_required(view.as_view())


urlpatterns: list[URLPattern | URLResolver] = [
    path("studies/<int:study_id>/analysis/", study_analysis, name="study-analysis"),
    path(
        "studies/<int:study_id>/analysis/raters/<int:rater_id>/",
        study_rater_toggle,
        name="study-analysis-rater",
    ),
    path(
        "api/studies/<int:study_id>/win-rates/",
        _api(analysis_apis.WinRatesApi),
        name="api-study-win-rates",
    ),
    path(
        "api/studies/<int:study_id>/leaderboard/",
        _api(analysis_apis.LeaderboardApi),
        name="api-study-leaderboard",
    ),
    path(
        "api/studies/<int:study_id>/factor-effects/",
        _api(analysis_apis.FactorEffectsApi),
        name="api-study-factor-effects",
    ),
    path(
        "api/studies/<int:study_id>/raters/",
        _api(analysis_apis.RatersApi),
        name="api-study-raters",
    ),
    path(
        "api/studies/<int:study_id>/metrics/",
        _api(analysis_apis.MetricsApi),
        name="api-study-metrics",
    ),
    path(
        "api/studies/<int:study_id>/stopping/",
        _api(analysis_apis.StoppingApi),
        name="api-study-stopping",
    ),
    path(
        "api/studies/<int:study_id>/raters/<int:rater_id>/exclusion/",
        _api(analysis_apis.RaterExclusionApi),
        name="api-study-rater-exclusion",
    ),
    path(
        "api/studies/<int:study_id>/judgments.csv",
        _api(analysis_apis.JudgmentsCsvApi),
        name="api-study-csv",
    ),
    path(
        "api/studies/<int:study_id>/judgments.jsonl",
        _api(analysis_apis.JudgmentsJsonlApi),
        name="api-study-jsonl",
    ),
]
