"""Login lockout (django-axes): the client's address behind a proxy, and a per-address limit.

django-ipware is not installed, so axes would read REMOTE_ADDR, which behind nginx is the proxy
itself: every failure would count against one address. `client_ip` reads the header the
trusted proxy sets, from the right, skipping the proxies in front of Django.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

logger = logging.getLogger(__name__)


def _meta_key(header: str) -> str:
    return "HTTP_" + header.strip().upper().replace("-", "_")


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: from LOUPE_TRUSTED_PROXY_HEADER when set, else REMOTE_ADDR.

    With N trusted proxies (LOUPE_TRUSTED_PROXY_COUNT), each appends the address it received
    from, so the client is the N-th entry from the right; entries further left are whatever
    the client sent and are never trusted. A missing or malformed header falls back to
    REMOTE_ADDR (the proxy), which locks more, never less.
    """
    remote = request.META.get("REMOTE_ADDR")
    header = settings.LOUPE_TRUSTED_PROXY_HEADER
    if not header:
        return remote
    raw = request.META.get(_meta_key(header), "")
    entries = [part.strip() for part in str(raw).split(",") if part.strip()]
    count = max(1, settings.LOUPE_TRUSTED_PROXY_COUNT)
    if len(entries) < count:
        return remote
    candidate = entries[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        logger.warning("Ignoring malformed %s entry %r", header, candidate[:60])
        return remote


def _is_address_only(parameter: str | list[str]) -> bool:
    return parameter == "ip_address" or parameter == ["ip_address"]


class LoupeAxesHandler(AxesDatabaseHandler):
    """axes' database handler with two limits instead of one.

    A username from one address is locked after AXES_FAILURE_LIMIT failures; one address
    alone (trying many usernames) after LOUPE_LOGIN_IP_FAILURE_LIMIT, higher so that a team
    behind one office address is not locked by a few typos. axes compares one number with one
    limit, so an address over its own limit reports the username limit.
    """

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        parameters = get_lockout_parameters(request, credentials)
        attempts_list = self.get_user_attempts(request, credentials)
        limit = get_failure_limit(request, credentials)
        failures = 0
        for parameter, attempts in zip(parameters, attempts_list, strict=True):
            count = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            if _is_address_only(parameter):
                if count >= settings.LOUPE_LOGIN_IP_FAILURE_LIMIT:
                    failures = max(failures, limit)
            else:
                failures = max(failures, count)
        return failures

    def reset_user_attempts(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        # A successful login clears that username's failures only: otherwise one valid account
        # would wipe the address's count and let the same address go on guessing others.
        parameters = get_lockout_parameters(request, credentials)
        attempts_list = self.filter_user_attempts(request, credentials)
        count = 0
        for parameter, attempts in zip(parameters, attempts_list, strict=True):
            if not _is_address_only(parameter):
                count += attempts.delete()[0]
        return count
