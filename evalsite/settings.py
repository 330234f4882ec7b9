"""Loupe settings: every value comes from the environment (12-factor).

The embedded default needs no server: SQLite, kombu's filesystem broker and media under var/.
"""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from generation.constants import SCORER_KIND_NAMES, metric_kind

# Lets admin.ModelAdmin[Model] and friends be subscripted at runtime, as the stubs do.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG: bool = env.bool("DEBUG", default=False)
_DEV_SECRET = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY: str = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # One line, no traceback noise: this is the first thing an operator sees.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off: set SECRET_KEY=<long random string> "
            "(or DEBUG=1 for local development)."
        )
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "generation",
    "ratings",
    "accounts",
]

MIDDLEWARE = [
    "evalsite.health.HealthzMiddleware",
    "evalsite.limits.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "evalsite.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns locked-out logins into a plain "locked" response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: 5 failures for a username from one address lock it for 15 minutes, and
# LOUPE_LOGIN_IP_FAILURE_LIMIT failures from one address (any usernames) lock the address.
AXES_ENABLED: bool = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "accounts.lockout.LoupeAxesHandler"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
LOUPE_LOGIN_IP_FAILURE_LIMIT: int = env.int("LOUPE_LOGIN_IP_FAILURE_LIMIT", default=30)
# Behind a reverse proxy: the header it sets (e.g. X-Forwarded-For) and how many proxies
# append to it. Unset: the client is REMOTE_ADDR (right when nothing sits in front of Django).
LOUPE_TRUSTED_PROXY_HEADER: str = env.str("LOUPE_TRUSTED_PROXY_HEADER", default="")
LOUPE_TRUSTED_PROXY_COUNT: int = env.int("LOUPE_TRUSTED_PROXY_COUNT", default=1)
# How long an invite link to the team stays usable.
LOUPE_INVITE_DAYS: int = env.int("LOUPE_INVITE_DAYS", default=7)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"

ROOT_URLCONF = "evalsite.urls"
WSGI_APPLICATION = "evalsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "evalsite.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'loupe.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections (a new one per request costs more than the vote itself); the health
# check replaces a connection that broke, so pages recover by themselves after an outage.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web process and worker share the file: wait for the writer instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
# Shared between processes in production (redis://…); per-process memory by default.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # Fail fast when the cache is down: evalsite.cache serves without it (fails open).
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 1, "socket_timeout": 1}
    )
# After a cache call fails, how long the cache is skipped before it is tried again.
LOUPE_CACHE_RETRY_SECONDS: float = env.float("LOUPE_CACHE_RETRY_SECONDS", default=5.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Media on S3-compatible storage when a bucket is named (shared by web and every worker),
# else on the local (or shared network) filesystem under MEDIA_ROOT.
LOUPE_S3_BUCKET: str = env.str("LOUPE_S3_BUCKET", default="")
_MEDIA_STORAGE: dict[str, object] = (
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": LOUPE_S3_BUCKET,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "querystring_auth": True,
            "querystring_expire": 3600,
            "file_overwrite": False,
            "default_acl": None,
        },
    }
    if LOUPE_S3_BUCKET
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
)
# Media reach browsers only through the media view (ratings/media.py), which checks who asks:
# streamed by the app, handed to the front proxy (X-Accel-Redirect under this internal prefix,
# e.g. /protected-media/; docs/deploy.md), or on S3 a redirect to a URL signed for this long
# (LOUPE_MEDIA_S3_STREAM=1 streams S3 objects through the app instead).
LOUPE_MEDIA_ACCEL_REDIRECT: str = env.str("LOUPE_MEDIA_ACCEL_REDIRECT", default="")
LOUPE_MEDIA_URL_SECONDS: int = env.int("LOUPE_MEDIA_URL_SECONDS", default=300)
LOUPE_MEDIA_S3_STREAM: bool = env.bool("LOUPE_MEDIA_S3_STREAM", default=False)
STORAGES = {
    "default": _MEDIA_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security: strict by default; local HTTP development relaxes it through DEBUG only.
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (evalsite/security.py): image origins beyond this site, when media
# is served from elsewhere than the S3 endpoint Loupe derives by itself (e.g. a CDN).
LOUPE_MEDIA_ORIGINS: list[str] = env.list("LOUPE_MEDIA_ORIGINS", default=[])

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its `WWW-Authenticate: Token` makes a missing or revoked token a 401.
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["evalsite.permissions.IsResearcher"],
    # JSON nested deeper than evalsite.limits.MAX_JSON_DEPTH is a 400.
    "DEFAULT_PARSER_CLASSES": [
        "evalsite.limits.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "evalsite.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loupe API",
    "DESCRIPTION": "Pairwise human evaluation of Stable Diffusion settings.",
    "VERSION": "1.0.0",
    "SERVE_PERMISSIONS": ["evalsite.permissions.IsResearcher"],
    # Swagger UI from the installed sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: the filesystem broker keeps the embedded default free of servers.
# The host is kombu's own default, named so that kombu does not warn about guessing it.
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
_CELERY_FS_DIR = VAR_DIR / "celery"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = (
    {
        "data_folder_in": str(_CELERY_FS_DIR / "out"),
        "data_folder_out": str(_CELERY_FS_DIR / "out"),
        "processed_folder": str(_CELERY_FS_DIR / "processed"),
        "control_folder": str(_CELERY_FS_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": 3600}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    (_CELERY_FS_DIR / "out").mkdir(parents=True, exist_ok=True)
    (_CELERY_FS_DIR / "processed").mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "render"
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Loupe
LOUPE_MODEL: str = env.str("LOUPE_MODEL", default="tiny-random")
LOUPE_RENDER_BATCH: int = env.int("LOUPE_RENDER_BATCH", default=8)
LOUPE_LEASE_SECONDS: int = env.int("LOUPE_LEASE_SECONDS", default=600)
# How long a batch may sit queued before the sweeper takes its message for lost (a broker
# restarted without persistence) and sends it again. Sending twice is harmless (the claim is
# a conditional UPDATE: the second message finds nothing to render), so this bounds how long a
# lost batch waits, not correctness; a batch still waiting behind others costs one no-op.
LOUPE_QUEUE_LEASE_SECONDS: int = env.int("LOUPE_QUEUE_LEASE_SECONDS", default=600)
LOUPE_SWEEP_SECONDS: float = env.float("LOUPE_SWEEP_SECONDS", default=60.0)
# Folders whose .safetensors files researchers may register as adapters by server path.
LOUPE_ADAPTER_ROOTS: list[str] = env.list(
    "LOUPE_ADAPTER_ROOTS", default=[str(VAR_DIR / "adapters")]
)
LOUPE_MAX_ATTEMPTS: int = env.int("LOUPE_MAX_ATTEMPTS", default=3)
LOUPE_RENDER_DEVICE: str | None = env.str("LOUPE_RENDER_DEVICE", default="") or None
LOUPE_TORCH_COMPILE: bool = env.bool("LOUPE_TORCH_COMPILE", default=False)
# Uploads (adapter weights, reference images): the largest file taken, judged from the size
# Django measured while spooling it to a temporary file (past FILE_UPLOAD_MAX_MEMORY_SIZE,
# 2.5 MB, nothing is held in memory), before anything reads it. Cap the request body at the
# proxy too (e.g. nginx client_max_body_size) so that nothing larger reaches the disk.
LOUPE_MAX_UPLOAD_MB: int = env.int("LOUPE_MAX_UPLOAD_MB", default=512)
# Uploaded images larger than this are refused from their header, before any decoding: a
# decompression bomb (a small file declaring a huge image) never reaches Pillow's decoder.
LOUPE_MAX_IMAGE_PIXELS: int = env.int("LOUPE_MAX_IMAGE_PIXELS", default=50_000_000)
# Votes one rater may cast per minute (page and API together); 0 turns the limit off.
# Counted in the cache: point CACHE_URL at Redis when several web processes serve raters.
LOUPE_VOTE_RATE_PER_MINUTE: int = env.int("LOUPE_VOTE_RATE_PER_MINUTE", default=120)
# The statements run on every vote are prepared once per PostgreSQL connection (ratings.statements).
# Set 0 behind a pooler in transaction mode (PgBouncer's), which cannot keep them per session.
LOUPE_PREPARED_SQL: bool = env.bool("LOUPE_PREPARED_SQL", default=True)
# A deal reads all of a study's pairs with their exposure counts; each web process reads them
# at most this often and counts its own presentations in between (0: read on every deal).
LOUPE_DEAL_PAIRS_SECONDS: float = env.float("LOUPE_DEAL_PAIRS_SECONDS", default=2.0)
CELERY_BEAT_SCHEDULE = {
    "sweep-expired-leases": {
        "task": "generation.tasks.sweep_leases",
        "schedule": LOUPE_SWEEP_SECONDS,
    },
}
CELERY_TASK_TIME_LIMIT: int = env.int("LOUPE_TASK_TIME_LIMIT", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT: int = CELERY_TASK_TIME_LIMIT - 60

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"quiet_forbidden": {"()": "evalsite.logs.QuietForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"filters": ["quiet_forbidden"]},
        # Start-up chatter (django-axes' banner, the reloader's "watching") is not news.
        "axes": {"level": "WARNING"},
        "django.utils.autoreload": {"level": "WARNING"},
    },
}

# Metric scorers
# Automatic metrics computed on the render workers from local model folders, e.g.
# LOUPE_SCORERS=clip=/models/clip-vit-l14,aesthetic=/models/laion-aesthetic
# Names start with `clip` or `aesthetic` (a suffix tells two apart: clip-b32). Empty: scoring off.
# The path `tiny-random` is a built-in tiny random scorer (no model: `make run` uses it for the
# demo's best-of-N studies; its scores are deterministic noise).
LOUPE_SCORERS: dict[str, str] = env.dict("LOUPE_SCORERS", default={})
for _metric, _path in LOUPE_SCORERS.items():
    if metric_kind(_metric) not in SCORER_KIND_NAMES or len(_metric) > 40 or not _path.strip():
        raise ImproperlyConfigured(
            f"LOUPE_SCORERS entry {_metric}={_path!r}: write name=/local/path, with a name of at "
            "most 40 characters starting with clip or aesthetic (e.g. clip=/models/clip-vit-l14)."
        )
