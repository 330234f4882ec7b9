"""Votes per rater per minute: a stuck key or a runaway script cannot flood a study.

Counted in Django's cache, so every web process shares the count when CACHE_URL points at
Redis (the local-memory default counts per process). Realistic judging is 10–20 votes a minute;
the limit (LOUPE_VOTE_RATE_PER_MINUTE, default 120) only stops what no person does.
"""

from __future__ import annotations

import math
import time

from django.conf import settings

from evalsite.cache import cache_count

WINDOW_SECONDS = 60


class VoteRateExceeded(Exception):
    """The rater voted more often in this minute than the limit allows."""

    def __init__(self, *, limit: int, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(
            f"That is more than {limit} votes in a minute. Take a moment with each pair: "
            f"you can vote again in {retry_after} s."
        )


def vote_rate_check(*, rater_id: int, now: float | None = None) -> None:
    """Count one vote for the rater; raise VoteRateExceeded when it goes past the limit.

    Not idempotent by design: every call is one vote attempt. Fixed one-minute windows; a
    refused attempt counts too, so hammering does not reopen the window early. With the cache
    unreachable nothing is counted and nothing refused.
    """
    limit: int = settings.LOUPE_VOTE_RATE_PER_MINUTE
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"loupe:vote-rate:{rater_id}:{window}"
    count = cache_count(key, timeout=2 * WINDOW_SECONDS)
    # Cache unreachable: the limit fails open (evalsite.cache logs the outage once). A vote
    # refused for want of a counter would lose a person's judgment to guard against a script.
    if count is not None and count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        raise VoteRateExceeded(limit=limit, retry_after=retry_after)
