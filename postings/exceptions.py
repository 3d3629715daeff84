"""Errors of the posting engine (postings, holds, reversals, rules, days).

The error shape (``LedgerError``: code, message, fields, HTTP status) and the
generic errors live in the shared kernel (``accounts.kernel.errors``), the
errors about accounts in ``accounts.exceptions``: each error has one home.
"""

from __future__ import annotations

from accounts.kernel.errors import LedgerError, SegregationOfDuties


class BufferedDebitRefused(LedgerError):
    code = "buffered_debit_refused"
    default_message = "A leg that needs a balance check cannot be posted to a buffered (hot) account."


class PostingModeChanged(LedgerError):
    """An account of the posting was switched between buffered and real-time
    while the posting was being written (it read the account in one mode and
    wrote its leg in the other, which the database refuses). Raised when the
    posting runs inside a caller's transaction; on its own it is tried again
    once instead (postings.services.idempotency). Nothing was written."""

    code = "posting_mode_changed"
    http_status = 409
    default_message = (
        "An account's posting mode changed while the posting was being written; nothing was posted. "
        "Send it again with the same request number."
    )


class AccountBlocked(LedgerError):
    code = "account_blocked"
    default_message = "The account's status does not allow this direction."


class SameAccount(LedgerError):
    """One account on both a debit and a credit leg (or a hold settled to its
    own account): a posting that moves nothing and only inflates turnover."""

    code = "same_account"
    http_status = 400
    default_message = "An account may not be on both a debit and a credit leg of one posting."


class CrossEntityPosting(LedgerError):
    code = "cross_entity"
    default_message = "All accounts of one posting must belong to one accounting entity."


class UnbalancedPosting(LedgerError):
    code = "unbalanced_posting"
    default_message = "Debits and credits of the posting are not equal."


class HoldExceeded(LedgerError):
    code = "hold_exceeded"
    default_message = "The amount is more than the hold's remaining amount."


class HoldNotActive(LedgerError):
    code = "hold_not_active"
    default_message = "The hold is no longer active (settled or released; an expired one is HoldExpired)."


class HoldExpired(HoldNotActive):
    """Past its ``expires_at``. A HoldNotActive (code ``hold_expired``, 422 like
    ``hold_not_active``: the hold's state refuses the call, and no retry will
    change that; nothing about the request conflicts): the call that found the
    hold expired has released it (status expired) before refusing."""

    code = "hold_expired"
    default_message = "The hold has passed its expiry; its frozen amount has been released."


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


class ClosedPeriodNeedsCorrection(LedgerError):
    """A reversal asked of a posting of a closed month (月结): a correction of
    a closed period needs a second person's approval, so it is a red-ink
    correction proposed by finance (postings.services.corrections), not a
    business system's reversal."""

    code = "closed_period_needs_correction"
    http_status = 409
    default_message = "The posting belongs to a closed period; a correction of it needs approval."


class RuleNotConfigured(LedgerError):
    code = "rule_not_configured"
    default_message = "No active posting rule for this business type, or its accounts cannot be resolved."


class DayClosed(LedgerError):
    code = "day_closed"
    default_message = "That accounting day is closed; post a correction on the open day."


class UnknownRefund(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such refund."


class RefundExceedsOriginal(LedgerError):
    code = "refund_exceeds_original"
    default_message = "The refund is more than what is left to refund of the posting."


class RefundNotAllowed(LedgerError):
    code = "refund_not_allowed"
    default_message = "This posting cannot be refunded (a refund, a reversal, or a reversed posting)."


class RefundWindowPassed(LedgerError):
    code = "refund_window_passed"
    default_message = (
        "The payment is older than its business type's refund window; finance staff may refund it with a reason "
        "and a second person's approval."
    )


class RefundSamePerson(SegregationOfDuties):
    """Maker-checker on late and large refunds: the proposer never approves."""

    default_message = "A refund is approved by someone other than the person who proposed it."


class UnknownOrder(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such guarantee order."


class OrderDisputed(LedgerError):
    """A disputed order is frozen: nothing is refunded or confirmed until the
    dispute is resolved (with a reason)."""

    code = "order_disputed"
    http_status = 409
    default_message = "The order is disputed; nothing moves until the dispute is resolved."


class OrderClosed(LedgerError):
    code = "order_closed"
    default_message = "The order is closed (confirmed or refunded in full); its escrow is empty."


class OrderRefundExceedsEscrow(LedgerError):
    code = "refund_exceeds_escrow"
    default_message = "The refund is more than the order still holds in escrow."


class EscrowNotConfigured(LedgerError):
    code = "escrow_not_configured"
    default_message = (
        "The entity has no single escrow (ESCROW), fee income (FEE_INCOME) or coupon (COUPON) account in the "
        "order's currency."
    )


class UnknownCorrection(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such correction."


class CorrectionNotAllowed(LedgerError):
    """The posting cannot be corrected in red ink: it is refunded, reversed,
    corrected already (or has a correction awaiting a decision), belongs to a
    guarantee order, or itself undoes or refunds a posting."""

    code = "correction_not_allowed"
    http_status = 409
    default_message = "This posting cannot be corrected in red ink."


class CorrectionSamePerson(SegregationOfDuties):
    """Maker-checker on corrections: the proposer never approves."""

    default_message = "A correction is approved by someone other than the person who proposed it."


# ------------------------------------------------- agreement debits (代扣) ----
# Here rather than in postings.agreements: the posting service raises them too
# (an agreement debit asked of it without its agreement), and it sits below.


class NoAgreement(LedgerError):
    """No active agreement covers the debit: none names this payer and payee,
    it is suspended, revoked or expired, or the day is outside its validity."""

    code = "no_agreement"
    default_message = "No active agreement covers this debit (payer, payee, date)."


class AgreementLimitExceeded(LedgerError):
    """The debit is more than the agreement allows per debit, or than what is
    left of its limit for the period."""

    code = "agreement_limit_exceeded"
    default_message = "The debit is more than the agreement allows per debit or per period."


class UnknownAgreement(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such agreement."
