"""Withdrawal errors, in the ledger's error shape (code, message, fields,
HTTP status) so pages and the API explain them the same way."""

from accounts.kernel.errors import (
    IllegalTransition,
    LedgerError,
    LedgerValidationError,
    NotAllowed,
    SegregationOfDuties,
)

__all__ = [
    "IllegalTransition",
    "InvalidCardNumber",
    "NotAllowed",
    "PayoutOutcomeUnknown",
    "SegregationOfDuties",
    "UnresolvedBankAnswer",
    "UnknownWithdrawal",
    "WithdrawalNotConfigured",
]


class InvalidCardNumber(LedgerValidationError):
    code = "invalid_card_number"
    default_message = "The card number is not a valid bank card number."


class UnknownWithdrawal(LedgerError):
    code = "not_found"
    http_status = 404


class WithdrawalNotConfigured(LedgerError):
    code = "not_configured"
    default_message = "Withdrawals are not configured for this entity and currency."


class UnresolvedBankAnswer(LedgerError):
    """The bank gave contradictory answers (one says it paid) and finance has
    not resolved the flag yet: paying again or cancelling could pay twice or
    free money that already left."""

    code = "unresolved_bank_answer"
    http_status = 409
    default_message = "The bank gave contradictory answers; finance must resolve the flag first."


class PayoutOutcomeUnknown(IllegalTransition):
    """The last instruction was sent and the bank has not answered: paying
    again could pay twice. A query must find it refused first. (The
    withdrawal is paying, so this was an ``illegal_transition`` before; it
    is one still, with a code that says why.)"""

    code = "payout_outcome_unknown"
    http_status = 409
    default_message = "The bank has not answered the last instruction; query it before paying again."
