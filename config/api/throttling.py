"""A rate limit per API client (限流).

A business system that loops on a bug, or retries without backing off, must
not take the ledger's capacity from every other caller. Each client may make
``ApiClient.rate_limit_per_minute`` calls a minute, all its keys together,
or ``API_RATE_LIMIT_PER_MINUTE`` when the client has no limit of its own (0:
none). A call over the limit is answered 429 ``rate_limited`` with
``Retry-After``, and changes nothing: the check runs before the view.

The count is a sliding minute, estimated from two fixed one-minute counters
per client: the calls of the current minute, plus those of the previous
minute weighted by the share of it that still lies within the last 60
seconds. A fixed window alone lets a client make twice its limit within a
few seconds across a minute's end; the estimate does not. Only calls let
through are counted (a refused call takes its count back), so a client that
keeps calling too fast still gets its limit through, not nothing.

Each counter is kept in the cache with one atomic ``incr``: every web
process must share that cache (settings: CACHE_URL, else the broker's
Redis). DRF's own SimpleRateThrottle keeps the time of every request in a
list per key and rewrites it on each call, which at thousands of calls a
minute costs more than the call it guards.
"""

from __future__ import annotations

import logging
import math
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
        minute, into = divmod(now, WINDOW)
        key = f"api-rate:{client.pk}:{int(minute)}"
        try:
            calls = _count(key)
            previous = cache.get(f"api-rate:{client.pk}:{int(minute) - 1}", 0)
        except Exception:  # noqa: BLE001 - the limit protects the ledger; an outage of its cache must not stop it
            log.warning("API rate limit not counted: the cache failed; the call is let through", exc_info=True)
            return True
        if previous * (1 - into / WINDOW) + calls <= limit:
            return True
        try:
            cache.decr(key)  # refused: not counted
        except Exception:  # noqa: BLE001 - the count stays one too high for this minute; the call is refused all the same
            log.warning("API rate limit: a refused call could not be taken off the count", exc_info=True)
        self._wait = _seconds_until_allowed(limit=limit, previous=previous, calls=calls - 1, into=into)
        return False

    def wait(self) -> float:
        return self._wait


def _seconds_until_allowed(*, limit: int, previous: int, calls: int, into: float) -> int:
    """Whole seconds until one more call fits, if no other call comes:
    ``previous`` and ``calls`` are the counts of the last and the current
    minute, ``into`` the seconds elapsed of the current one."""
    room = limit - 1 - calls  # what the previous minute's weighted share must fall to
    if room >= 0 and previous:
        at = WINDOW * (1 - room / previous)  # later in this minute
    else:  # not in this minute: the current count becomes the weighted one
        at = WINDOW + WINDOW * max(0.0, 1 - (limit - 1) / calls) if calls else WINDOW
    return max(1, math.ceil(at - into))


def _count(key: str) -> int:
    """This call's number in its minute. The first call of a minute creates
    the counter; of two first calls at once, add() lets one create it and
    the other counts on it."""
    if cache.add(key, 1, timeout=2 * WINDOW + 5):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=2 * WINDOW + 5)
        return 1
