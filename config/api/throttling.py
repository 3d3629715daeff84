"""A rate limit per API client (限流).

A business system that loops on a bug, or retries without backing off, must
not take the ledger's capacity from every other caller. Each client may make
``ApiClient.rate_limit_per_minute`` calls a minute, all its keys together,
or ``API_RATE_LIMIT_PER_MINUTE`` when the client has no limit of its own (0:
none). A call over the limit is answered 429 ``rate_limited`` with
``Retry-After``, and changes nothing: the check runs before the view.

The count is a fixed one-minute window per client, kept in the cache with
one atomic ``incr``: every web process must share that cache (settings:
CACHE_URL, else the broker's Redis). DRF's own SimpleRateThrottle keeps the
time of every request in a list per key and rewrites it on each call, which
at thousands of calls a minute costs more than the call it guards.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from .models import ApiClient

WINDOW = 60
log = logging.getLogger(__name__)
_clock = time.time  # the tests move it, and only it


def client_limit(client: ApiClient) -> int:
    """Calls a minute the client may make; 0 for no limit."""
    own = client.rate_limit_per_minute
    return settings.API_RATE_LIMIT_PER_MINUTE if own is None else own


class ClientRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return True  # no client: authentication or the scope check answers
        limit = client_limit(client)
        if not limit:
            return True
        now = _clock()
        self._wait = WINDOW - now % WINDOW
        try:
            calls = _count(f"api-rate:{client.pk}:{int(now // WINDOW)}")
        except Exception:  # noqa: BLE001 - the limit protects the ledger; an outage of its cache must not stop it
            log.warning("API rate limit not counted: the cache failed; the call is let through", exc_info=True)
            return True
        return calls <= limit

    def wait(self) -> float:
        return self._wait


def _count(key: str) -> int:
    """This call's number in its window. The first call of a window creates
    the counter; of two first calls at once, add() lets one create it and
    the other counts on it."""
    if cache.add(key, 1, timeout=2 * WINDOW):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=2 * WINDOW)
        return 1
