"""The refusal codes of the rules (postings/sql/posting_rules.sql) as errors:
the only place a code becomes a LedgerError and its message."""

from __future__ import annotations

from accounts.exceptions import AccountClosed, InsufficientFunds, UnknownAccount
from accounts.kernel.errors import CurrencyMismatch, LedgerError
from accounts.models import Account, Category

from ..exceptions import AccountBlocked, BufferedDebitRefused, CrossEntityPosting
from ..models import Direction

_BUFFERED_DEBIT_MESSAGE = (
    "Account {} is a buffered (hot) account that may not go negative: a leg that lowers its balance needs a "
    "balance check and cannot be buffered. Make the account real-time, or freeze and settle through a real-time "
    "account."
)


def _refusal(code: str, d: dict) -> LedgerError:
    """The LedgerError of a refusal code of the rules (posting_rules.sql), with
    what its message needs (``d``: from the one call's DETAIL, or from the
    locked accounts on the full path). The only place a code becomes an error."""
    no = d.get("account_no")
    if code == "unknown_account":
        return UnknownAccount(f"No account {no.replace(',', ', ')}.", account_no=no)
    if code == "cross_entity":
        return CrossEntityPosting(
            f"Account {no} is in another accounting entity than {d['first_account_no']}.", account_no=no
        )
    if code == "currency_mismatch":
        return CurrencyMismatch(
            f"legs[{d['leg']}]: account {no} is in {d['account_currency']}, the posting in {d['currency']}.",
            account_no=no,
        )
    if code == "account_closed":
        return AccountClosed(f"Account {no} is closed.", account_no=no)
    if code == "account_blocked":
        sides = "debits" if d["direction"] == Direction.DEBIT else "credits"
        return AccountBlocked(f"Account {no} is {d['status']}: {sides} are not allowed.", account_no=no)
    if code == "buffered_debit_refused":
        return BufferedDebitRefused(_BUFFERED_DEBIT_MESSAGE.format(no), account_no=no)
    if code == "repaid_beyond_owed":
        return InsufficientFunds(f"Account {no} would be repaid beyond what is owed.", account_no=no)
    if code == "insufficient_funds":
        available = d["available"]
        what = "credit line" if d["category"] == Category.ASSET else "available balance"
        return InsufficientFunds(
            f"Account {no}: {what} is short by {-available} {d['account_currency']}.",
            account_no=no,
            available=available,
        )
    raise ValueError(f"unknown refusal code {code!r}")  # a rule added in SQL and not here


def _leg_detail(i: int, account: Account, direction: str | None, currency: str, first: Account) -> dict:
    return {
        "leg": i,
        "account_no": account.account_no,
        "status": account.status,
        "direction": direction,
        "account_currency": account.currency,
        "currency": currency,
        "first_account_no": first.account_no,
    }


def _balance_detail(account: Account) -> dict:
    return {
        "account_no": account.account_no,
        "category": account.category,
        "account_currency": account.currency,
        "available": account.available,
    }
