"""The period close's refusals, with their API codes (docs/periods.md)."""

from accounts.kernel.errors import LedgerError, LedgerValidationError, NotAllowed


class PeriodCloseRefused(LedgerValidationError):
    code = "period_close_refused"
    default_message = "The period cannot be closed now."


class PeriodNotClosing(LedgerError):
    code = "period_not_closing"
    http_status = 409
    default_message = "The period's close has not been proposed, or has been decided."


class PeriodCloseSelfApproval(NotAllowed):
    code = "period_close_self_approval"
    default_message = "A period close is approved by someone other than its proposer."
