"""The caller's own references on a posting, hold or withdrawal: ``metadata``
and ``trade_no``. One home for their rules: the services call these before
anything is written (the API passes the values through as sent), and
PostgreSQL refuses the same shapes on its own (postings/sql/metadata.sql and
the tables' CHECK constraints), so a row written by hand obeys them too.

``metadata``: a flat JSON object, at most ``MAX_KEYS`` keys, each key
``KEY_PATTERN``, each value a string of at most ``MAX_VALUE_CHARS``
characters, keys and values together at most ``MAX_BYTES`` bytes of UTF-8.
Values are strings only (as Stripe's metadata): the search
``metadata[key]=value`` compares text, so one value has one spelling; a
caller sends "100" or "true", never 100 or true.

``trade_no``: the caller's trade (order) number that groups the postings of
one order (一笔交易, N postings): like a request number, 1 to 64 characters
without NUL; absent (None) when the posting belongs to no trade.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidMetadata, LedgerValidationError

MAX_KEYS = 50
KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_VALUE_CHARS = 500
MAX_BYTES = 4096
TRADE_NO_MAX = 64
_KEY_RE = re.compile(KEY_PATTERN[1:-1])


def _size(metadata: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())


def clean_metadata(value: Any) -> dict[str, str]:
    """``value`` as stored (None: no metadata, ``{}``), or InvalidMetadata
    naming the key at fault (``metadata.<key>``) or the whole (``metadata``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidMetadata("metadata must be a JSON object of string values.", metadata=type(value).__name__)
    if len(value) > MAX_KEYS:
        raise InvalidMetadata(f"metadata holds at most {MAX_KEYS} keys; {len(value)} given.", metadata=len(value))
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise InvalidMetadata(
                f"metadata key {key!r} is not 1 to 64 of the characters A-Z a-z 0-9 _ . -",
                metadata=str(key)[:80],
            )
        where = f"metadata.{key}"
        if not isinstance(item, str):
            raise InvalidMetadata(
                f'metadata {key!r} must be a string, not {type(item).__name__} (send "100", not 100).',
                **{where: type(item).__name__},
            )
        if len(item) > MAX_VALUE_CHARS:
            raise InvalidMetadata(
                f"metadata {key!r} is {len(item)} characters long; at most {MAX_VALUE_CHARS}.",
                **{where: len(item)},
            )
        if "\x00" in item:
            raise InvalidMetadata(f"metadata {key!r} contains NUL.", **{where: "NUL"})
    size = _size(value)
    if size > MAX_BYTES:
        raise InvalidMetadata(f"metadata is {size} bytes (keys and values, UTF-8); at most {MAX_BYTES}.", metadata=size)
    return dict(value)


def clean_trade_no(value: Any) -> str | None:
    """The trade number as stored: None when absent; else 1 to 64 characters
    without NUL (as a request number), or validation_error naming trade_no."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= TRADE_NO_MAX or "\x00" in value:
        raise LedgerValidationError(
            f"trade_no is 1 to {TRADE_NO_MAX} characters (no NUL), or absent.", trade_no=str(value)[:80]
        )
    return value


def references_content(*, metadata: dict[str, str], trade_no: str | None) -> dict[str, Any]:
    """What a request's fingerprint adds for its references: nothing when
    they are absent, so a request made before they existed fingerprints as
    it did then (its retry is still a replay, not a conflict)."""
    content: dict[str, Any] = {}
    if metadata:
        content["metadata"] = metadata
    if trade_no is not None:
        content["trade_no"] = trade_no
    return content
