"""Domain errors of the ledger.

Each carries a stable ``code`` (what the API and pages key on), a human
message, the offending ``fields`` and the HTTP status an API should answer.
Views turn them into messages, the API into ``{"error": {...}}``.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    code = "ledger_error"
    http_status = 422
    default_message = "The ledger refused the request."

    def __init__(self, message: str | None = None, **fields: Any):
        self.message = message or self.default_message
        self.fields = fields
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fields": {k: str(v) for k, v in self.fields.items()}}


class LedgerValidationError(LedgerError):
    code = "validation_error"
    http_status = 400
    default_message = "The request is not valid."


class InvalidAmount(LedgerValidationError):
    code = "invalid_amount"
    default_message = "Amounts must be positive decimals with no more places than the currency allows."


class UnknownAccount(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such account."


class AccountClosed(LedgerError):
    code = "account_closed"
    default_message = "The account is closed."


class BufferedDebitRefused(LedgerError):
    code = "buffered_debit_refused"
    default_message = "A leg that needs a balance check cannot be posted to a buffered (hot) account."


class AccountBlocked(LedgerError):
    code = "account_blocked"
    default_message = "The account's status does not allow this direction."


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"
    default_message = "The amount's currency is not the account's currency."


class CrossEntityPosting(LedgerError):
    code = "cross_entity"
    default_message = "All accounts of one posting must belong to one accounting entity."


class CustomerMismatch(LedgerError):
    code = "customer_mismatch"
    http_status = 409
    default_message = "A customer with that ID document exists under another name or kind."


class UnbalancedPosting(LedgerError):
    code = "unbalanced_posting"
    default_message = "Debits and credits of the posting are not equal."


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"
    default_message = "The account's available balance is not enough."


class IdempotencyConflict(LedgerError):
    code = "idempotency_conflict"
    http_status = 409
    default_message = "This request number was already used for a different request."


class HoldExceeded(LedgerError):
    code = "hold_exceeded"
    default_message = "The amount is more than the hold's remaining amount."


class HoldNotActive(LedgerError):
    code = "hold_not_active"
    default_message = "The hold is no longer active (settled, released or expired)."


class UnknownHold(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such hold."


class UnknownPosting(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such posting."


class AlreadyReversed(LedgerError):
    code = "already_reversed"
    default_message = "The posting has already been reversed."


class ReversalNotAllowed(LedgerError):
    code = "reversal_not_allowed"
    default_message = "A reversal cannot itself be reversed."


class IllegalTransition(LedgerError):
    code = "illegal_transition"
    default_message = "That status change is not allowed."


class RuleNotConfigured(LedgerError):
    code = "rule_not_configured"
    default_message = "No active posting rule for this business type, or its accounts cannot be resolved."


class ChartLocked(LedgerError):
    code = "chart_locked"
    default_message = "This account type is used by accounts; its code, category and sign rule are fixed."


class DayClosed(LedgerError):
    code = "day_closed"
    default_message = "That accounting day is closed; post a correction on the open day."
