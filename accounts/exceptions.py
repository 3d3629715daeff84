"""Errors about customers, accounts and the chart, in the ledger's error
shape (``accounts.kernel.errors.LedgerError``)."""

from __future__ import annotations

from .kernel.errors import LedgerError


class UnknownAccount(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such account."


class AccountClosed(LedgerError):
    code = "account_closed"
    default_message = "The account is closed."


class CustomerMismatch(LedgerError):
    code = "customer_mismatch"
    http_status = 409
    default_message = "A customer with that ID document exists under another name or kind."


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"
    default_message = "The account's available balance is not enough."


class ChartLocked(LedgerError):
    code = "chart_locked"
    default_message = "This account type is used by accounts; its code, category and sign rule are fixed."
