"""The entries' hash chain recomputed outside the database, as an outsider
would from docs/hash_chain.md: the database writes each applied entry's
hash (postings/sql/entry_hash.sql, the one place it is computed), and this
module is the independent second reading the verifier uses
(``reports.certificates.verify``). If the two ever disagreed on a clean
entry, the verifier would say so, which is why they are kept apart.

    entry_hash = sha256(utf8(content) || previous entry's hash on the account)

with 32 zero bytes before an account's first entry, and ``content`` the
fields of ``CONTENT_FIELDS`` joined by "|" after the tag ``ledger-entry-v1``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

GENESIS = bytes(32)
TAG = "ledger-entry-v1"
CONTENT_FIELDS = (
    "serial_no",
    "posting_id",
    "account_id",
    "account_seq",
    "direction",
    "amount",
    "currency",
    "balance_before",
    "balance_after",
    "frozen_before",
    "frozen_after",
    "business_type",
    "accounting_date",
    "created_at",
)


def plain(value: Decimal) -> str:
    """The shortest plain decimal, as PostgreSQL's trim_scale(x)::text
    writes it: no exponent, no trailing zeros, no "-0"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(name: str, value) -> str:
    if isinstance(value, Decimal):
        return plain(value)
    if name == "created_at":
        assert isinstance(value, datetime)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def entry_content(row: dict) -> str:
    """The canonical content of an applied entry (a dict with ``CONTENT_FIELDS``)."""
    return "|".join([TAG, *(_text(name, row[name]) for name in CONTENT_FIELDS)])


def entry_digest(row: dict, previous: bytes | None) -> bytes:
    return hashlib.sha256(entry_content(row).encode("utf-8") + (previous or GENESIS)).digest()


def root_hash(hashes: Iterable[bytes | None]) -> str:
    """The root of a sequence of entry hashes: sha256 over them
    concatenated, in the order given (a missing one counts as 32 zero bytes);
    hex."""
    digest = hashlib.sha256()
    for value in hashes:
        digest.update(bytes(value) if value is not None else GENESIS)
    return digest.hexdigest()
