"""The ratings app's pages: studies, rating, analysis, and the media files (API: evalsite/api_urls.py)."""

from django.urls import URLPattern, path

from generation.media import MEDIA_VIEW
from ratings import media
from ratings.checklists import views as checklist
from ratings.rerank import views as rerank
from ratings.series import views as series_views
from ratings.views import analysis, rate, report, studies

urlpatterns: list[URLPattern] = [
    path("studies/", studies.study_list, name="study-list"),
    path("studies/new/", studies.study_new, name="study-new"),
    path("studies/<int:pk>/", studies.study_detail, name="study-detail"),
    path("studies/<int:pk>/edit/", studies.study_edit, name="study-edit"),
    path("studies/<int:pk>/launch/", studies.study_launch_view, name="study-launch"),
    path("studies/<int:pk>/progress/", studies.study_progress, name="study-progress"),
    path("studies/<int:pk>/retry/", studies.study_retry, name="study-retry"),
    path("studies/<int:pk>/status/", studies.study_set_open, name="study-status"),
    path("studies/<int:pk>/gold/", studies.study_gold, name="study-gold"),
    path("rate/", rate.rate_home, name="rate-home"),
    path("rate/<int:study_id>/", rate.rate_study, name="rate-study"),
    path("rate/<int:study_id>/guide/", rate.rate_guide, name="rate-guide"),
    path("rate/<int:study_id>/vote/", rate.rate_vote, name="rate-vote"),
    path("rate/<int:study_id>/skip/", rate.rate_skip, name="rate-skip"),
    path("rate/<int:study_id>/undo/", rate.rate_undo, name="rate-undo"),
    path("studies/<int:study_id>/analysis/", analysis.study_analysis, name="study-analysis"),
    path(
        "studies/<int:study_id>/analysis/raters/<int:rater_id>/",
        analysis.study_rater_toggle,
        name="study-analysis-rater",
    ),
    # Served to whoever may see them, with DEBUG on or off.
    path("media/<path:name>", media.media_file, name=MEDIA_VIEW),
    path("studies/<int:study_id>/report/", report.study_report, name="study-report"),
    path(
        "studies/<int:study_id>/report/download/",
        report.study_report_download,
        name="study-report-download",
    ),
    # Checklist studies (ratings.checklists).
    path("studies/checklist/new/", checklist.checklist_new, name="checklist-new"),
    path("studies/<int:study_id>/checklist/edit/", checklist.checklist_edit, name="checklist-edit"),
    path("rate/checklist/<int:study_id>/", checklist.checklist_rate, name="checklist-rate"),
    path(
        "rate/checklist/<int:study_id>/answer/",
        checklist.checklist_answer,
        name="checklist-answer",
    ),
    path(
        "studies/<int:study_id>/checklist/",
        checklist.checklist_results_page,
        name="checklist-results",
    ),
    path(
        "studies/<int:study_id>/checklist/label/",
        checklist.checklist_label_run,
        name="checklist-label",
    ),
    *(
        path(
            f"studies/<int:study_id>/checklist/answers.{fmt}",
            checklist.checklist_export,
            {"fmt": fmt},
            name=f"checklist-{fmt}",
        )
        for fmt in ("csv", "jsonl")
    ),
]

# Best-of-N reranking studies.
urlpatterns += [
    path("studies/rerank/new/", rerank.rerank_new, name="rerank-new"),
    path("studies/<int:pk>/rerank/", rerank.rerank_detail, name="rerank-detail"),
    path("studies/<int:pk>/rerank/launch/", rerank.rerank_launch, name="rerank-launch"),
    path("studies/<int:pk>/rerank/result/", rerank.rerank_result_page, name="rerank-result"),
    path(
        "studies/<int:pk>/rerank/judgments.<str:fmt>",
        rerank.rerank_export,
        name="rerank-export",
    ),
]

# Studies over a LoRA checkpoint series (ratings/series/views.py).
urlpatterns += [
    path(
        "series/<int:series_id>/study/new/", series_views.series_study_new, name="series-study-new"
    ),
    path("studies/<int:study_id>/series/", series_views.series_result_page, name="series-result"),
    path(
        "studies/<int:study_id>/series.csv",
        series_views.series_result_download,
        name="series-result-csv",
    ),
]
