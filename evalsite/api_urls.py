"""Every REST API route, mounted at /api/ by evalsite/urls.py.

Route names are prefixed api- to stay clear of the pages; each app's pages are in its urls.py.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter, SimpleRouter
from rest_framework.views import APIView

from accounts import apis as accounts_apis
from generation import apis as generation_apis
from generation import series_apis
from ratings import analysis_apis, report_apis
from ratings.checklists import apis as checklist_apis
from ratings.rate_apis import rate_judgment_api, rate_next_api
from ratings.rerank import apis as rerank_apis
from ratings.series import apis as series_result_apis
from ratings.study_apis import StudyViewSet


def _api(view: type[APIView]) -> Any:
    # DRF authenticates (session or token) and answers 401/403 itself: the site-wide
    # login redirect would turn a token client's request into an HTML login page.
    return login_not_required(view.as_view())


# The generation resources; the default router adds the browsable root at /api/.
generation = DefaultRouter()
generation.register("prompts", generation_apis.PromptViewSet, basename="api-prompt")
generation.register("adapters", generation_apis.LoraAdapterViewSet, basename="api-adapter")
generation.register("configs", generation_apis.GenerationConfigViewSet, basename="api-config")
generation.register("images", generation_apis.ImageViewSet, basename="api-image")
generation.register("series", series_apis.SeriesViewSet, basename="api-series")

studies = SimpleRouter()
studies.register("studies", StudyViewSet, basename="api-study")

_study = "studies/<int:study_id>/"

urlpatterns: list[URLPattern | URLResolver] = [
    *generation.urls,
    *studies.urls,
    path("rate/next/", rate_next_api, name="api-rate-next"),
    path("rate/judgments/", rate_judgment_api, name="api-rate-judgments"),
    path(_study + "win-rates/", _api(analysis_apis.WinRatesApi), name="api-study-win-rates"),
    path(_study + "leaderboard/", _api(analysis_apis.LeaderboardApi), name="api-study-leaderboard"),
    path(
        _study + "factor-effects/",
        _api(analysis_apis.FactorEffectsApi),
        name="api-study-factor-effects",
    ),
    path(_study + "raters/", _api(analysis_apis.RatersApi), name="api-study-raters"),
    path(_study + "metrics/", _api(analysis_apis.MetricsApi), name="api-study-metrics"),
    path(_study + "stopping/", _api(analysis_apis.StoppingApi), name="api-study-stopping"),
    path(
        _study + "raters/<int:rater_id>/exclusion/",
        _api(analysis_apis.RaterExclusionApi),
        name="api-study-rater-exclusion",
    ),
    path(_study + "judgments.csv", _api(analysis_apis.JudgmentsCsvApi), name="api-study-csv"),
    path(_study + "judgments.jsonl", _api(analysis_apis.JudgmentsJsonlApi), name="api-study-jsonl"),
    path(_study + "decision/", _api(report_apis.DecisionApi), name="api-study-decision"),
    path("team/raters/", _api(accounts_apis.TeamRatersApi), name="api-team-raters"),
    path(
        "team/raters/<int:user_id>/",
        _api(accounts_apis.TeamRaterDetailApi),
        name="api-team-rater-detail",
    ),
    path("team/invites/", _api(accounts_apis.TeamInvitesApi), name="api-team-invites"),
    path(
        "team/invites/<int:invite_id>/",
        _api(accounts_apis.TeamInviteDetailApi),
        name="api-team-invite-detail",
    ),
    # Best-of-N reranking studies (launch, open, close: the studies routes above).
    path("rerank-studies/", _api(rerank_apis.RerankStudiesApi), name="api-rerank-list"),
    path("rerank-studies/<int:pk>/", _api(rerank_apis.RerankStudyApi), name="api-rerank-detail"),
    path(
        "rerank-studies/<int:pk>/result/",
        _api(rerank_apis.RerankResultApi),
        name="api-rerank-result",
    ),
    path(
        "rerank-studies/<int:pk>/judgments.csv",
        _api(rerank_apis.RerankCsvApi),
        name="api-rerank-csv",
    ),
    path(
        "rerank-studies/<int:pk>/judgments.jsonl",
        _api(rerank_apis.RerankJsonlApi),
        name="api-rerank-jsonl",
    ),
    # Checklist studies (ratings.checklists).
    path("checklist-studies/", _api(checklist_apis.ChecklistStudiesApi), name="api-checklist-new"),
    path(
        _study + "checklist/",
        _api(checklist_apis.ChecklistResultsApi),
        name="api-checklist-results",
    ),
    path(
        _study + "checklist/answers.csv",
        _api(checklist_apis.ChecklistCsvApi),
        name="api-checklist-csv",
    ),
    path(
        _study + "checklist/answers.jsonl",
        _api(checklist_apis.ChecklistJsonlApi),
        name="api-checklist-jsonl",
    ),
    path(
        _study + "checklist/labels/",
        _api(checklist_apis.ChecklistLabelApi),
        name="api-checklist-label",
    ),
    path("rate/checklist/next/", checklist_apis.checklist_next_api, name="api-checklist-next"),
    path(
        "rate/checklist/answers/",
        checklist_apis.checklist_answers_api,
        name="api-checklist-answers",
    ),
    # Studies over a LoRA checkpoint series (ratings/series/apis.py).
    path(
        "series/<int:series_id>/studies/",
        _api(series_result_apis.SeriesStudyCreateApi),
        name="api-series-study-create",
    ),
    path(
        _study + "series-result/",
        _api(series_result_apis.SeriesResultApi),
        name="api-study-series-result",
    ),
    path(
        _study + "series-result.csv",
        _api(series_result_apis.SeriesResultCsvApi),
        name="api-study-series-result-csv",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from its own URL: no inline script,
    # so the Content-Security-Policy keeps script-src 'self'.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
