"""Agreements (代扣协议) through their services: signed once per request
number, debited within their limits (per debit, per period), refused with a
clear code without a covering active agreement, short of funds taking
nothing or what is available as agreed, every attempt recorded; suspended,
resumed, revoked with a reason, expired past their last day. And the
posting service itself refuses an agreement debit that no agreement covers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.exceptions import InsufficientFunds
from accounts.kernel.errors import IdempotencyConflict, LedgerValidationError
from postings.agreements.models import AgreementEvent, DebitAttempt
from postings.agreements.services import (
    agreement_resume,
    agreement_revoke,
    agreement_sign,
    agreement_suspend,
    agreements_expire_due,
)
from postings.exceptions import AgreementLimitExceeded, NoAgreement
from postings.models import Hold, Posting
from postings.selectors import current_accounting_date
from postings.services import Leg, hold_place, hold_settle, posting_create, posting_create_by_rule

from .books import sign

pytestmark = pytest.mark.django_db


def attempts(mandate) -> list[tuple]:
    return list(
        DebitAttempt.objects.filter(agreement=mandate.agreement)
        .order_by("id")
        .values_list("request_no", "outcome", "amount_asked", "amount_taken", "code")
    )


def test_a_debit_takes_from_the_payer_to_the_payee_through_a_hold(ledger):
    m = sign(ledger)
    attempt = m.debit("120.00", "bill-2026-11")
    assert (attempt.outcome, attempt.amount_taken, attempt.replayed) == ("taken", Decimal("120.00"), False)
    assert (ledger.balance(m.payer), ledger.balance(m.payee)) == (Decimal("880.00"), Decimal("120.00"))
    assert ledger.fresh(m.payer).frozen == 0
    posting = attempt.posting
    legs = sorted((e.account.account_no, e.direction, e.amount) for e in posting.entries.select_related("account"))
    assert legs == sorted([(m.payer.account_no, "D", Decimal("120.00")), (m.payee.account_no, "C", Decimal("120.00"))])
    assert (posting.business_type, posting.source_system, posting.request_no) == (
        "agreement_debit",
        "lender",
        "bill-2026-11",
    )
    hold = Hold.objects.get(pk=attempt.hold_id)
    assert hold.status == "settled" and hold.events.filter(kind="settle", posting=posting).exists()


def test_the_same_request_again_takes_nothing_and_other_content_is_a_conflict(ledger):
    m = sign(ledger)
    first = m.debit("50.00", "r-1")
    again = m.debit("50.00", "r-1")
    assert again.replayed and again.pk == first.pk
    with pytest.raises(IdempotencyConflict):
        m.debit("60.00", "r-1")
    assert ledger.balance(m.payer) == Decimal("950.00")
    assert Posting.objects.filter(business_type="agreement_debit").count() == 1


def test_limits_per_debit_and_per_period(ledger):
    m = sign(ledger, max_per_debit="300.00", max_per_period="500.00", limit_period="month")
    with pytest.raises(AgreementLimitExceeded) as per_debit:
        m.debit("300.01", "too-big")
    assert per_debit.value.code == "agreement_limit_exceeded"
    m.debit("300.00", "one")
    m.debit("150.00", "two")
    with pytest.raises(AgreementLimitExceeded) as per_period:
        m.debit("50.01", "three")
    assert "50.00 is left" in per_period.value.message.replace("CNY ", "").replace("¥", "")
    m.debit("50.00", "four")
    assert ledger.balance(m.payer) == Decimal("500.00")
    assert [(r, o, t, c) for r, o, _, t, c in attempts(m)] == [
        ("too-big", "refused", Decimal("0"), "agreement_limit_exceeded"),
        ("one", "taken", Decimal("300.00"), ""),
        ("two", "taken", Decimal("150.00"), ""),
        ("three", "refused", Decimal("0"), "agreement_limit_exceeded"),
        ("four", "taken", Decimal("50.00"), ""),
    ]


def test_a_refused_number_can_be_tried_again(ledger):
    m = sign(ledger, funds="40.00")
    with pytest.raises(InsufficientFunds):
        m.debit("100.00", "again")
    ledger.recharge(m.payer, "100.00")
    assert m.debit("100.00", "again").outcome == "taken"
    assert [o for _, o, *_ in attempts(m)] == ["refused", "taken"]


def test_short_of_funds_takes_nothing_or_what_is_available_as_agreed(ledger):
    strict = sign(ledger, funds="70.00")
    with pytest.raises(InsufficientFunds):
        strict.debit("100.00", "s-1")
    assert ledger.balance(strict.payer) == Decimal("70.00") and ledger.fresh(strict.payer).frozen == 0
    assert attempts(strict) == [("s-1", "refused", Decimal("100.00"), Decimal("0"), "insufficient_funds")]

    lenient = sign(ledger, funds="70.00", allow_partial=True)
    attempt = lenient.debit("100.00", "p-1")
    assert (attempt.outcome, attempt.amount_taken, attempt.code) == ("partial", Decimal("70.00"), "insufficient_funds")
    assert ledger.balance(lenient.payer) == 0 and ledger.balance(lenient.payee) == Decimal("70.00")
    # The call may ask otherwise than the agreement's default.
    with pytest.raises(InsufficientFunds):
        lenient.debit("10.00", "p-2", allow_partial=False)


@pytest.mark.parametrize("why", ["suspended", "revoked", "purpose", "not_yet_valid", "other_payee"])
def test_no_agreement_covers_the_debit(ledger, why):
    m = sign(ledger)
    if why == "suspended":
        agreement_suspend(agreement_id=m.agreement.pk, reason="member asked", request_no="s", actor="app")
    elif why == "revoked":
        agreement_revoke(agreement_id=m.agreement.pk, reason="member left", request_no="v", actor="app")
    elif why == "not_yet_valid":
        today = current_accounting_date(entity=ledger.entity)
        m = sign(ledger, valid_from=today + timedelta(days=1))
    kw = {"purpose": "insurance"} if why == "purpose" else {}
    if why == "other_payee":
        # The posting service asked directly for another payee: no agreement of this payer names it.
        hold = hold_place(account_no=m.payer.account_no, amount="10.00", reason="t", request_no="h", actor="t")
        with pytest.raises(NoAgreement):
            hold_settle(
                hold_id=hold.id,
                request_no="x",
                amount="10.00",
                business_type="agreement_debit",
                actor="t",
                counter_account_no=ledger.cash().account_no,
            )
        return
    with pytest.raises(NoAgreement) as refused:
        m.debit("10.00", "n-1", **kw)
    assert refused.value.code == "no_agreement"
    assert ledger.balance(m.payer) == Decimal("1000.00")
    assert attempts(m) == [("n-1", "refused", Decimal("10.00"), Decimal("0"), "no_agreement")]


def test_the_posting_service_refuses_an_agreement_debit_without_its_agreement(ledger):
    m = sign(ledger)
    legs = [Leg.debit(m.payer.account_no, "10.00"), Leg.credit(m.payee.account_no, "10.00")]
    with pytest.raises(NoAgreement):
        posting_create(request_no="direct", business_type="agreement_debit", legs=legs, posted_by="t")
    with pytest.raises(NoAgreement):
        posting_create_by_rule(
            business_type="agreement_debit",
            request_no="by-rule",
            params={"payer_account": m.payer.account_no, "payee_account": m.payee.account_no, "amount": "10.00"},
            posted_by="t",
        )
    assert not Posting.objects.filter(business_type="agreement_debit").exists()


def test_sign_is_idempotent_and_an_agreement_number_is_signed_once(ledger):
    m = sign(ledger, request_no="sg-1", agreement_no="AG-1")
    terms = dict(
        agreement_no="AG-1",
        payer_account_no=m.payer.account_no,
        payee_account_no=m.payee.account_no,
        purpose="credit_repayment",
        max_per_debit="300.00",
        max_per_period="500.00",
        actor="lender",
        source_system="lender",
    )
    again = agreement_sign(request_no="sg-1", **terms)
    assert again.replayed and again.pk == m.agreement.pk
    with pytest.raises(IdempotencyConflict):
        agreement_sign(request_no="sg-1", **{**terms, "max_per_debit": "100.00"})
    with pytest.raises(IdempotencyConflict):
        agreement_sign(request_no="sg-2", **terms)
    with pytest.raises(LedgerValidationError):
        agreement_sign(request_no="sg-3", **{**terms, "agreement_no": "AG-3", "max_per_period": "200.00"})
    with pytest.raises(LedgerValidationError):  # a credit line is no wallet to debit
        agreement_sign(
            request_no="sg-4", **{**terms, "agreement_no": "AG-4", "payer_account_no": ledger.credit().account_no}
        )


def test_suspend_resume_revoke_with_history_and_reasons(ledger):
    m = sign(ledger)
    pk = m.agreement.pk
    with pytest.raises(LedgerValidationError):
        agreement_suspend(agreement_id=pk, reason=" ", request_no="s0", actor="app")
    agreement_suspend(agreement_id=pk, reason="lost phone", request_no="s1", actor="app:member")
    assert agreement_suspend(agreement_id=pk, reason="lost phone", request_no="s1", actor="app:member").replayed
    agreement_resume(agreement_id=pk, request_no="r1", actor="app:member")
    m.debit("10.00", "after-resume")
    agreement_revoke(agreement_id=pk, reason="closed the loan", request_no="v1", actor="app:member")
    with pytest.raises(Exception) as illegal:
        agreement_resume(agreement_id=pk, request_no="r2", actor="app:member")
    assert illegal.value.code == "illegal_transition"
    rows = list(
        AgreementEvent.objects.filter(agreement_id=pk)
        .order_by("id")
        .values_list("kind", "from_status", "to_status", "reason")
    )
    assert rows == [
        ("sign", "", "active", ""),
        ("suspend", "active", "suspended", "lost phone"),
        ("resume", "suspended", "active", ""),
        ("revoke", "active", "revoked", "closed the loan"),
    ]


def test_the_expiry_job_expires_agreements_past_their_last_day(ledger):
    today = current_accounting_date(entity=ledger.entity)
    m = sign(ledger, valid_to=today)
    assert agreements_expire_due() == 0  # its last day is today: still valid
    m.debit("10.00", "last-day")
    from postings.agreements.models import Agreement

    # The day is cut: the entity's open day moves on.
    from postings.models import AccountingCalendar

    AccountingCalendar.objects.filter(entity=ledger.entity).update(open_date=today + timedelta(days=1))
    with pytest.raises(NoAgreement):
        m.debit("10.00", "day-after")
    assert agreements_expire_due() == 1
    assert agreements_expire_due() == 0
    assert Agreement.objects.get(pk=m.agreement.pk).status == "expired"
    assert AgreementEvent.objects.filter(agreement=m.agreement, kind="expire", actor="system:agreement-expiry").exists()


def test_a_debit_repays_a_credit_line(ledger):
    credit = ledger.credit(limit="1000")
    shop = ledger.cash()
    posting_create_by_rule(
        business_type="credit_purchase",
        request_no="buy",
        params={"credit_account": credit.account_no, "merchant_account": shop.account_no, "amount": "200.00"},
        posted_by="t",
    )
    m = sign(ledger, payee=credit, purpose="bill_repayment")
    m.debit("200.00", "bill-1")
    assert ledger.balance(credit) == 0 and ledger.balance(m.payer) == Decimal("800.00")
