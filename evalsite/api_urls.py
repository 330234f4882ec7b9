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
from evalsite.routes import routes
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


# A study's results and exports (pairwise, series and checklist studies alike).
per_study = {
    "win-rates": ("win-rates/", analysis_apis.WinRatesApi),
    "leaderboard": ("leaderboard/", analysis_apis.LeaderboardApi),
    "factor-effects": ("factor-effects/", analysis_apis.FactorEffectsApi),
    "raters": ("raters/", analysis_apis.RatersApi),
    "rater-exclusion": ("raters/<int:rater_id>/exclusion/", analysis_apis.RaterExclusionApi),
    "metrics": ("metrics/", analysis_apis.MetricsApi),
    "stopping": ("stopping/", analysis_apis.StoppingApi),
    "csv": ("judgments.csv", analysis_apis.JudgmentsCsvApi),
    "jsonl": ("judgments.jsonl", analysis_apis.JudgmentsJsonlApi),
    "decision": ("decision/", report_apis.DecisionApi),
    "series-result": ("series-result/", series_result_apis.SeriesResultApi),
    "series-result-csv": ("series-result.csv", series_result_apis.SeriesResultCsvApi),
}
checklist = {
    "results": ("", checklist_apis.ChecklistResultsApi),
    "csv": ("answers.csv", checklist_apis.ChecklistCsvApi),
    "jsonl": ("answers.jsonl", checklist_apis.ChecklistJsonlApi),
    "label": ("labels/", checklist_apis.ChecklistLabelApi),
}
# Best-of-N reranking studies (launch, open, close: the studies routes).
rerank = {
    "list": ("", rerank_apis.RerankStudiesApi),
    "detail": ("<int:pk>/", rerank_apis.RerankStudyApi),
    "result": ("<int:pk>/result/", rerank_apis.RerankResultApi),
    "csv": ("<int:pk>/judgments.csv", rerank_apis.RerankCsvApi),
    "jsonl": ("<int:pk>/judgments.jsonl", rerank_apis.RerankJsonlApi),
}
team = {
    "raters": ("raters/", accounts_apis.TeamRatersApi),
    "rater-detail": ("raters/<int:user_id>/", accounts_apis.TeamRaterDetailApi),
    "invites": ("invites/", accounts_apis.TeamInvitesApi),
    "invite-detail": ("invites/<int:invite_id>/", accounts_apis.TeamInviteDetailApi),
}

urlpatterns: list[URLPattern | URLResolver] = [
    *generation.urls,
    *studies.urls,
    *routes("studies/<int:study_id>/", "api-study", per_study, wrap=_api),
    *routes("studies/<int:study_id>/checklist/", "api-checklist", checklist, wrap=_api),
    *routes("rerank-studies/", "api-rerank", rerank, wrap=_api),
    *routes("team/", "api-team", team, wrap=_api),
    path("checklist-studies/", _api(checklist_apis.ChecklistStudiesApi), name="api-checklist-new"),
    path(
        "series/<int:series_id>/studies/",
        _api(series_result_apis.SeriesStudyCreateApi),
        name="api-series-study-create",
    ),
    # The rating screens' API: function views with their own throttles.
    path("rate/next/", rate_next_api, name="api-rate-next"),
    path("rate/judgments/", rate_judgment_api, name="api-rate-judgments"),
    path("rate/checklist/next/", checklist_apis.checklist_next_api, name="api-checklist-next"),
    path(
        "rate/checklist/answers/",
        checklist_apis.checklist_answers_api,
        name="api-checklist-answers",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from its own URL: no inline script,
    # so the Content-Security-Policy keeps script-src 'self'.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
