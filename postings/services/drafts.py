"""Typed values of a posting on its way: the legs a caller states, what the leg
rules see of a posting to be written, and a prepared posting (PostingDraft)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from accounts.kernel.errors import LedgerValidationError
from accounts.kernel.money import Money
from accounts.models import Account

from ..models import Direction, Entry, Posting

DEFAULT_SOURCE = "ledger"


def _metadata_text(metadata: dict[str, str] | None) -> str:
    """Metadata as the posting statements bind it: JSON text, cast to jsonb
    there (psycopg adapts no plain dict); none is '{}'."""
    return json.dumps(metadata, ensure_ascii=False) if metadata else "{}"


@dataclass(frozen=True)
class Leg:
    """One side of a posting as a caller states it."""

    account_no: str
    direction: str
    amount: Decimal | str | int | Money

    @classmethod
    def debit(cls, account_no: str, amount) -> Leg:
        return cls(account_no, Direction.DEBIT, amount)

    @classmethod
    def credit(cls, account_no: str, amount) -> Leg:
        return cls(account_no, Direction.CREDIT, amount)


_DIRECTIONS = {"D": "D", "DEBIT": "D", "借": "D", "C": "C", "CREDIT": "C", "贷": "C"}


def _direction(value, index: int) -> str:
    key = str(getattr(value, "value", value)).strip().upper()
    if key not in _DIRECTIONS:
        raise LedgerValidationError(f"legs[{index}].direction must be debit or credit, got {value!r}.")
    return _DIRECTIONS[key]


@dataclass(frozen=True)
class _Draft:
    """A posting about to be written, as the leg rules see it."""

    legs: Sequence[Leg]
    currency: str | None = None
    hold_leg: int | None = None


def _sides(directions: Sequence[str], amounts: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """Total debits and total credits of a posting's legs."""
    debits = sum((a for a, d in zip(amounts, directions) if d == Direction.DEBIT), Decimal(0))
    credits = sum((a for a, d in zip(amounts, directions) if d == Direction.CREDIT), Decimal(0))
    return debits, credits


@dataclass
class PostingDraft:
    """A posting prepared against its locked accounts and not yet written:
    the posting and its entries, unsaved, and the real-time accounts touched
    (their new balances applied in memory) in the order the legs name them."""

    posting: Posting
    entries: list[Entry]
    touched: list[Account]
