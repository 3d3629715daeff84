"""Withdrawal errors, in the ledger's error shape (code, message, fields,
HTTP status) so pages and the API explain them the same way."""

from accounts.kernel.errors import IllegalTransition, LedgerError, LedgerValidationError, NotAllowed

__all__ = [
    "IllegalTransition",
    "InvalidCardNumber",
    "NotAllowed",
    "SegregationOfDuties",
    "UnknownWithdrawal",
    "WithdrawalNotConfigured",
]


class InvalidCardNumber(LedgerValidationError):
    code = "invalid_card_number"
    default_message = "The card number is not a valid bank card number."


class SegregationOfDuties(LedgerError):
    """Maker-checker: nobody approves what they asked for, and the two
    approvals of a large withdrawal come from two different people."""

    code = "segregation_of_duties"
    http_status = 403


class UnknownWithdrawal(LedgerError):
    code = "not_found"
    http_status = 404


class WithdrawalNotConfigured(LedgerError):
    code = "not_configured"
    default_message = "Withdrawals are not configured for this entity and currency."
