"""A withdrawal's trade number and metadata (issue 23 §3) go to its hold and,
when the bank pays, to the settlement posting, so the trade system finds
the money that left by its own order number."""

from __future__ import annotations

import pytest

from accounts.kernel.errors import IdempotencyConflict, InvalidMetadata
from postings.models import Posting
from withdrawals.models import ReviewRule, Status, Withdrawal
from withdrawals.services import payout_send, withdrawal_request

from .conftest import CARD_OK

pytestmark = pytest.mark.django_db


def request(desk, **kw):
    return withdrawal_request(
        account_no=desk.member_account.account_no,
        amount="100.00",
        card_holder="Alice Zhang",
        card_bank="ICBC",
        card_number=CARD_OK,
        request_no="app-ref-1",
        **kw,
    )


def test_the_settlement_posting_carries_the_withdrawals_references(desk, django_capture_on_commit_callbacks):
    ReviewRule.objects.filter(code="new-card").update(active=False)
    with django_capture_on_commit_callbacks(execute=True):
        w = request(desk, trade_no="CASHOUT-7", metadata={"app_version": "5.2.1"})
    w = Withdrawal.objects.get(pk=w.pk)
    assert (w.trade_no, w.metadata) == ("CASHOUT-7", {"app_version": "5.2.1"})
    assert (w.hold.trade_no, w.hold.metadata) == ("CASHOUT-7", {"app_version": "5.2.1"})
    with django_capture_on_commit_callbacks(execute=True):
        payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    w = Withdrawal.objects.get(pk=w.pk)
    assert w.status == Status.PAID
    assert list(Posting.objects.filter(trade_no="CASHOUT-7").values_list("pk", "metadata")) == [
        (w.settlement_id, {"app_version": "5.2.1"})
    ]


def test_a_retry_with_other_references_is_a_conflict_and_bad_metadata_freezes_nothing(desk):
    first = request(desk, trade_no="CASHOUT-8")
    assert request(desk, trade_no="CASHOUT-8").replayed
    with pytest.raises(IdempotencyConflict):
        request(desk, trade_no="CASHOUT-9")
    with pytest.raises(IdempotencyConflict):
        request(desk, trade_no="CASHOUT-8", metadata={"a": "b"})
    with pytest.raises(InvalidMetadata):
        withdrawal_request(
            account_no=desk.member_account.account_no,
            amount="100.00",
            card_holder="Alice Zhang",
            card_bank="ICBC",
            card_number=CARD_OK,
            request_no="app-ref-2",
            metadata={"amount": 100},
        )
    assert list(Withdrawal.objects.values_list("pk", flat=True)) == [first.pk]
