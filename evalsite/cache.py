"""The shared cache, failing open: an outage costs speed or a rate limit, never a request.

Every cache read and write in Loupe goes through these helpers. When the cache server is
unreachable a read is a miss and a write is skipped, so callers compute instead of failing.
The outage is logged once (a warning when it starts, a line when it ends), not once per call,
and for LOUPE_CACHE_RETRY_SECONDS after a failure the cache is not tried at all: a cache that
times out instead of refusing would otherwise add its timeout to every request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

try:
    from redis.exceptions import RedisError

    OUTAGE: tuple[type[BaseException], ...] = (OSError, RedisError)
except ImportError:  # pragma: no cover - redis is a requirement, but the cache may be memcached
    OUTAGE = (OSError,)

_lock = threading.Lock()
_down_until = 0.0
_down = False
#: How many cache calls raised since the process started: what fault tests check.
failures = 0


def _usable() -> bool:
    return time.monotonic() >= _down_until


def _failed(error: BaseException) -> None:
    global _down, _down_until, failures
    with _lock:
        failures += 1
        first = not _down
        _down = True
        _down_until = time.monotonic() + settings.LOUPE_CACHE_RETRY_SECONDS
    if first:
        log.warning(
            "cache unreachable (%s: %s); serving without it (reports computed, vote rate "
            "limit off) until it is back",
            type(error).__name__,
            error,
        )


def _worked() -> None:
    global _down
    if _down:
        with _lock:
            was_down, _down = _down, False
        if was_down:
            log.warning("cache reachable again")


def cache_get(key: str) -> Any:
    """The cached value, or None when it is missing or the cache is unreachable."""
    if not _usable():
        return None
    try:
        value = cache.get(key)
    except OUTAGE as error:
        _failed(error)
        return None
    _worked()
    return value


def cache_set(key: str, value: Any, timeout: float) -> bool:
    """Store a value; False when the cache is unreachable (the caller carries on without it)."""
    if not _usable():
        return False
    try:
        cache.set(key, value, timeout)
    except OUTAGE as error:
        _failed(error)
        return False
    _worked()
    return True


def cache_count(key: str, timeout: float) -> int | None:
    """Add one to a counter that expires after `timeout` seconds; None when the cache is
    unreachable. Atomic on Redis and memcached (add() then incr()), so concurrent calls from
    several processes are all counted."""
    if not _usable():
        return None
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            count = int(cache.incr(key))
        except ValueError:  # expired between add() and incr()
            cache.set(key, 1, timeout=timeout)
            count = 1
    except OUTAGE as error:
        _failed(error)
        return None
    _worked()
    return count


def cache_reset_state() -> None:
    """Forget an outage (tests: each starts with the cache assumed reachable)."""
    global _down, _down_until, failures
    with _lock:
        _down, _down_until, failures = False, 0.0, 0
