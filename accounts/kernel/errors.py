"""Domain errors every app raises.

Each carries a stable ``code`` (what the API and pages key on), a human
message, the offending ``fields`` and the HTTP status an API should answer.
Views turn them into messages, the API into ``{"error": {...}}``. Errors of
one app live in that app (``accounts.exceptions``, ``postings.exceptions``,
``withdrawals.exceptions``), as subclasses of these.
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


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"
    default_message = "The amount's currency is not the account's currency."


class IdempotencyConflict(LedgerError):
    code = "idempotency_conflict"
    http_status = 409
    default_message = "This request number was already used for a different request."


class IllegalTransition(LedgerError):
    code = "illegal_transition"
    default_message = "That status change is not allowed."


class NotAllowed(LedgerError):
    """The acting user lacks a permission (``accounts.kernel.permissions``)."""

    code = "forbidden"
    http_status = 403
    default_message = "You do not have the permission for this."


class SegregationOfDuties(LedgerError):
    """Maker-checker: nobody approves what they proposed or asked for, and
    where two approvals are needed they come from two different people. One
    code for every flow that has a second person (withdrawals, refunds,
    red-ink corrections)."""

    code = "segregation_of_duties"
    http_status = 403


class InvalidMetadata(LedgerValidationError):
    """``metadata`` of a posting, hold or withdrawal breaks its rules
    (``accounts.kernel.metadata``); ``fields`` names the key at fault."""

    code = "invalid_metadata"
    default_message = "metadata must be a flat JSON object of short string values."
