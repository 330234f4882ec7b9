"""The decision report (researchers): one page per study, printable, and the same report as one
self-contained HTML file (styles inline, images as data: URIs, no external request).

Its routes: ratings/urls.py (the page, the download), evalsite/api_urls.py (the JSON API).
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from evalsite.web import researcher_required
from ratings.models import Study
from ratings.reports.decision import DecisionReport, study_decision
from ratings.views import kind_redirect

#: The downloaded file's own policy: it may show inline styles and data: images, nothing else
#: (no script, no request anywhere), whether opened from disk or served.
STANDALONE_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def data_uri(name: str) -> str:
    """A stored display image as a data: URI, read through the storage ('' if missing)."""
    try:
        with default_storage.open(name, "rb") as handle:
            payload = handle.read()
    except (FileNotFoundError, OSError):
        return ""
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(payload).decode('ascii')}"


def _context(report: DecisionReport, *, inline: bool) -> dict[str, Any]:
    inlined: dict[str, str] = {}  # an image on several criteria's grids is read once

    def source(name: str, url: str) -> str:
        if not inline:
            return url
        if name not in inlined:
            inlined[name] = data_uri(name)
        return inlined[name]

    sections = []
    for decision in report.criteria:
        grid = [
            (
                row,
                source(row.leader_file, row.leader_url),
                source(row.runner_up_file, row.runner_up_url),
            )
            for row in decision.grid
        ]
        sections.append({"d": decision, "grid": grid})
    return {"report": report, "sections": sections, "standalone": inline}


@require_GET
@researcher_required
def study_report(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=study_id)
    if elsewhere := kind_redirect(study, "report"):
        return elsewhere
    context = _context(study_decision(study=study), inline=False) | {
        "study": study,
        "download_url": reverse("study-report-download", args=[study.pk]),
    }
    return render(request, "ratings/report/page.html", context)


def _stylesheet() -> str:
    found = finders.find("loupe/report.css")
    if not found:
        found = str(Path(settings.STATIC_ROOT or "") / "loupe" / "report.css")
    return Path(str(found)).read_text(encoding="utf-8")


@require_GET
@researcher_required
def study_report_download(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=study_id)
    context = _context(study_decision(study=study), inline=True) | {
        "stylesheet": _stylesheet(),
        "policy": STANDALONE_CSP,
    }
    html = render_to_string("ratings/report/standalone.html", context)
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    name = f"loupe-decision-{study.pk}-{slugify(study.name) or 'study'}.html"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # Set before the site's middleware (which only fills a missing header): the file's inline
    # styles and data: images are allowed, and nothing else.
    response["Content-Security-Policy"] = STANDALONE_CSP
    return response
