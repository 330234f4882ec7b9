"""Root fixtures: media in a temp folder for every test; servers-or-skip for `services` tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def services_available() -> bool:
    db = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    return db.startswith(("postgres://", "postgresql://")) and broker.startswith("redis://")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needing = [item for item in items if item.get_closest_marker("services")]
    if not needing or services_available():
        return
    if os.environ.get("LOUPE_REQUIRE_SERVICES") == "1":
        raise pytest.UsageError(
            "LOUPE_REQUIRE_SERVICES=1 but DATABASE_URL (postgres://) and CELERY_BROKER_URL "
            "(redis://) are not both set: the services tests would be skipped."
        )
    skip = pytest.mark.skip(
        reason="needs DATABASE_URL=postgres://… and CELERY_BROKER_URL=redis://…"
    )
    for item in needing:
        item.add_marker(skip)


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Path, settings: pytest.FixtureRequest) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _adapter_roots(tmp_path: Path, settings: pytest.FixtureRequest) -> None:
    # Registering by server path (adapters, checkpoint series, the demo's series) reads and
    # writes only here, never the checkout's var/adapters.
    settings.LOUPE_ADAPTER_ROOTS = [str(tmp_path / "adapters")]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # Rolled-back tests reuse ids: a cached report from one test must not leak into the next.
    from django.core.cache import cache

    cache.clear()
