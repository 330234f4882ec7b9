"""Settings for the test suite: the real settings, with test-friendly environment defaults."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Django's test client logs in without a request, which django-axes refuses; the throttling
# test switches it back on.
os.environ.setdefault("AXES_ENABLED", "0")
# Deals read the study's pairs afresh: tests change them between deals (gold, readiness).
# tests/ratings/test_rate_perf.py turns the per-process copy on where it is the subject.
os.environ.setdefault("LOUPE_DEAL_PAIRS_SECONDS", "0")

from evalsite.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Templates name static files that `collectstatic` never ran for: no manifest in tests.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
