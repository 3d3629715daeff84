"""Idempotency: a request number runs its write once.

Every write a caller may retry carries a request number unique per source
system. The first request does the work; the same number with the same
content answers the first result (``replayed``) and changes nothing; the
same number with other content is ``IdempotencyConflict``. Content is
compared by a fingerprint (a digest of the request's fields), so amounts
written '100', '100.00' or Decimal('100.0') are one request.

(``postings.services.idempotency`` builds its posting variant of run_once on
these helpers: the one call first, and no lookup before a posting's write.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Model
from djmoney.money import Money

from .errors import IdempotencyConflict, InvalidAmount, LedgerError, LedgerValidationError

T = TypeVar("T", bound=Model)


def canonical_amount(value) -> str:
    """The amount as the fingerprint sees it; floats are refused."""
    if isinstance(value, float):
        raise InvalidAmount("Floats are not accepted for money, pass a Decimal or a string.", amount=value)
    if isinstance(value, Money):
        return f"{value.currency.code}:{canonical_amount(value.amount)}"
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return str(value)


def request_fingerprint(**content) -> str:
    blob = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def check_request_no(request_no: str) -> None:
    if not request_no or len(request_no) > 64:
        raise LedgerValidationError("request_no is required (at most 64 characters).", request_no=request_no)


def replay(existing: T, fingerprint: str, what: str) -> T:
    """The first result of a request again, or IdempotencyConflict."""
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"Request {existing.request_no} of {existing.source_system} was already used for a different {what}.",
            request_no=existing.request_no,
        )
    existing.replayed = True
    return existing


def run_once(
    model: type[T], *, source_system: str, request_no: str, fingerprint: str, what: str, write: Callable[[], T]
) -> T:
    """Run ``write`` once per (source_system, request_no) of ``model``, whose
    rows carry ``source_system``, ``request_no`` (unique together) and
    ``fingerprint``; ``write`` ends by inserting that row.

    Two concurrent first attempts are settled by the unique key: the second
    waits for the first, then fails (on the key, or on what the first
    changed), and answers the first one's result.
    """
    check_request_no(request_no)

    def earlier() -> T | None:
        return model.objects.filter(source_system=source_system, request_no=request_no).first()

    existing = earlier()
    if existing is not None:
        return replay(existing, fingerprint, what)
    try:
        with transaction.atomic():
            result = write()
    except (IntegrityError, LedgerError):
        existing = earlier()
        if existing is None:
            raise
        return replay(existing, fingerprint, what)
    result.replayed = False
    return result
