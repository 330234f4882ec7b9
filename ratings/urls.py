"""Each area keeps its URL list beside its views; this joins them."""

from django.urls import URLPattern, URLResolver

from ratings import media
from ratings.views import analysis, rate, report, studies

urlpatterns: list[URLPattern | URLResolver] = [
    *studies.urlpatterns,
    *rate.urlpatterns,
    *analysis.urlpatterns,
    *report.urlpatterns,
    *media.urlpatterns,
]
