"""The ratings app's pages: studies, rating, analysis, and the media files (API: evalsite/api_urls.py).

Each group's routes are named `{group}-{key}` (evalsite/routes.py).
"""

from django.urls import URLPattern, path

from evalsite.routes import routes
from generation.media import MEDIA_VIEW
from ratings import media
from ratings.checklists import views as checklist
from ratings.rerank import views as rerank
from ratings.series import views as series_views
from ratings.views import analysis, rate, report, studies

study = {
    "list": ("", studies.study_list),
    "new": ("new/", studies.study_new),
    "detail": ("<int:pk>/", studies.study_detail),
    "edit": ("<int:pk>/edit/", studies.study_edit),
    "launch": ("<int:pk>/launch/", studies.study_launch_view),
    "progress": ("<int:pk>/progress/", studies.study_progress),
    "retry": ("<int:pk>/retry/", studies.study_retry),
    "status": ("<int:pk>/status/", studies.study_set_open),
    "gold": ("<int:pk>/gold/", studies.study_gold),
    "analysis": ("<int:study_id>/analysis/", analysis.study_analysis),
    "analysis-rater": (
        "<int:study_id>/analysis/raters/<int:rater_id>/",
        analysis.study_rater_toggle,
    ),
    "report": ("<int:study_id>/report/", report.study_report),
    "report-download": ("<int:study_id>/report/download/", report.study_report_download),
}
rate_pages = {
    "home": ("", rate.rate_home),
    "study": ("<int:study_id>/", rate.rate_study),
    "guide": ("<int:study_id>/guide/", rate.rate_guide),
    "vote": ("<int:study_id>/vote/", rate.rate_vote),
    "skip": ("<int:study_id>/skip/", rate.rate_skip),
    "undo": ("<int:study_id>/undo/", rate.rate_undo),
}
# Checklist studies (ratings.checklists).
checklists = {
    "new": ("studies/checklist/new/", checklist.checklist_new),
    "edit": ("studies/<int:study_id>/checklist/edit/", checklist.checklist_edit),
    "results": ("studies/<int:study_id>/checklist/", checklist.checklist_results_page),
    "label": ("studies/<int:study_id>/checklist/label/", checklist.checklist_label_run),
    "rate": ("rate/checklist/<int:study_id>/", checklist.checklist_rate),
    "answer": ("rate/checklist/<int:study_id>/answer/", checklist.checklist_answer),
}
# Best-of-N reranking studies.
reranks = {
    "new": ("rerank/new/", rerank.rerank_new),
    "detail": ("<int:pk>/rerank/", rerank.rerank_detail),
    "launch": ("<int:pk>/rerank/launch/", rerank.rerank_launch),
    "result": ("<int:pk>/rerank/result/", rerank.rerank_result_page),
    "export": ("<int:pk>/rerank/judgments.<str:fmt>", rerank.rerank_export),
}
# Studies over a LoRA checkpoint series (ratings/series/views.py).
series = {
    "study-new": ("series/<int:series_id>/study/new/", series_views.series_study_new),
    "result": ("studies/<int:study_id>/series/", series_views.series_result_page),
    "result-csv": ("studies/<int:study_id>/series.csv", series_views.series_result_download),
}

urlpatterns: list[URLPattern] = [
    *routes("studies/", "study", study),
    *routes("rate/", "rate", rate_pages),
    *routes("", "checklist", checklists),
    *(
        path(
            f"studies/<int:study_id>/checklist/answers.{fmt}",
            checklist.checklist_export,
            {"fmt": fmt},
            name=f"checklist-{fmt}",
        )
        for fmt in ("csv", "jsonl")
    ),
    *routes("studies/", "rerank", reranks),
    *routes("", "series", series),
    # Served to whoever may see them, with DEBUG on or off.
    path("media/<path:name>", media.media_file, name=MEDIA_VIEW),
]
