"""How far the matching of a channel's day has got, for the page that shows a
progress bar while the task runs (reports/channel/views.py, recon_progress).

Kept in the cache (Redis when there is one, shared by the web processes and
the workers), not in the database: the run writes in one transaction, which
nobody else sees until it commits. Best effort: a cache that is down costs
the bar, never the run.
"""

from __future__ import annotations

import logging
from datetime import date

from django.core.cache import cache

log = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 3600
# The share of the bar each step of a run takes: the pairing in SQL, then
# writing what did not simply match, a chunk at a time, then the figures.
QUEUED, PAIRING, WRITING, SUMMING, DONE, FAILED = "queued", "pairing", "writing", "summing", "done", "failed"
_PERCENT = {QUEUED: 0, PAIRING: 5, WRITING: 50, SUMMING: 90, DONE: 100, FAILED: 100}


def _key(channel_code: str, day: date) -> str:
    return f"recon-progress:{channel_code}:{day.isoformat()}"


def progress_set(channel_code: str, day: date, step: str, *, done: int = 0, total: int = 0, note: str = "") -> None:
    percent = _PERCENT[step]
    if step == WRITING and total:
        percent += min(done, total) * (_PERCENT[SUMMING] - _PERCENT[WRITING]) // total
    try:
        cache.set(
            _key(channel_code, day),
            {"step": step, "percent": percent, "done": done, "total": total, "note": note},
            KEEP_SECONDS,
        )
    except Exception:  # noqa: BLE001 (the bar is not worth a failed run)
        log.warning("recon progress: cache not answering", exc_info=True)


def progress_get(channel_code: str, day: date) -> dict | None:
    try:
        return cache.get(_key(channel_code, day))
    except Exception:  # noqa: BLE001
        return None
