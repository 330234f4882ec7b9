"""Response headers that limit what a page may load and run: Content-Security-Policy and
Permissions-Policy (Referrer-Policy comes from Django's SecurityMiddleware as well).

Pages load only Loupe's own scripts and styles: no inline <script>, no style="…" attributes,
so markup injected through a study's text cannot run or restyle anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
# Swagger UI ships an inline <style> block and sets style attributes from its bundle; its
# script comes from a separate URL (SpectacularSwaggerSplitView), so scripts stay 'self'.
RELAXED_STYLE_URL_NAMES = frozenset({"api-docs"})


def media_origins() -> list[str]:
    """Where images are served from when they are not on this site (S3-compatible storage)."""
    explicit: list[str] = list(getattr(settings, "LOUPE_MEDIA_ORIGINS", []))
    if explicit:
        return explicit
    bucket: str = getattr(settings, "LOUPE_S3_BUCKET", "")
    if not bucket:
        return []
    storage: Any = settings.STORAGES["default"]
    options: dict[str, Any] = storage.get("OPTIONS", {})
    if options.get("custom_domain"):
        return [f"https://{options['custom_domain']}"]
    endpoint = options.get("endpoint_url")
    if endpoint:
        # Path-style (host/bucket/key) or virtual-hosted (bucket.host/key): allow both.
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}", f"{parts.scheme}://{bucket}.{parts.netloc}"]
    origins = [f"https://{bucket}.s3.amazonaws.com"]
    region = options.get("region_name")
    if region:
        origins.append(f"https://{bucket}.s3.{region}.amazonaws.com")
    return origins


def content_security_policy(*, relaxed_styles: bool = False) -> str:
    images = " ".join(["'self'", "data:", "blob:", *media_origins()])
    styles = "'self' 'unsafe-inline'" if relaxed_styles else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src {images}",
            f"style-src {styles}",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = content_security_policy()
        self.relaxed_policy = content_security_policy(relaxed_styles=True)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.DEBUG and response.status_code in (404, 500):
            # Django's technical error pages are inline-styled; they exist only under DEBUG.
            return response
        match = getattr(request, "resolver_match", None)
        relaxed = match is not None and match.view_name in RELAXED_STYLE_URL_NAMES
        response.headers.setdefault(
            "Content-Security-Policy", self.relaxed_policy if relaxed else self.policy
        )
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
