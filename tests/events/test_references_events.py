"""Events carry the caller's trade number and metadata (issue 23 §3), so a
consumer can match a posting, a hold or a withdrawal to its order without
asking the ledger; the payloads follow docs/events/ with and without them."""

from __future__ import annotations

import pytest

from postings.services import Leg, PostingRequest, hold_place, hold_settle, posting_create, posting_create_batch
from withdrawals.services import withdrawal_request

from .scripted import as_published, number_everything, validate

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {"order_id": "SO-1", "channel": "app"}


def test_posting_hold_and_withdrawal_events_carry_the_references(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "1000.00", request_no="ev-rc")
    legs = [Leg(payer.account_no, "D", "10.00"), Leg(payee.account_no, "C", "10.00")]
    one = posting_create(
        request_no="ev-1", business_type="transfer", legs=legs, posted_by="t", trade_no="T-1", metadata=ORDER
    )
    batch = posting_create_batch(
        [PostingRequest("ev-b1", "transfer", legs, trade_no="T-1", metadata={"line": "2"})], posted_by="t"
    )
    hold = hold_place(
        account_no=payer.account_no,
        amount="50.00",
        reason="order",
        request_no="ev-h",
        actor="t",
        trade_no="T-1",
        metadata=ORDER,
    )
    settled = hold_settle(
        hold_id=hold.id,
        amount="20.00",
        business_type="guarantee_settlement",
        counter_account_no=payee.account_no,
        request_no="ev-hs",
        actor="t",
    )
    withdrawal = withdrawal_request(
        account_no=payer.account_no,
        amount="30.00",
        card_holder=payer.member.name,
        card_bank="ICBC",
        card_number="6222020200112233446",
        request_no="ev-w",
        trade_no="W-1",
        metadata={"reason": "cash out"},
    )

    events = number_everything()
    for event in events:
        validate(as_published(event))
    booked = {e.payload["serial_no"]: e.payload for e in events if e.type == "posting.booked"}
    refs = {serial_no: (p["trade_no"], p["metadata"]) for serial_no, p in booked.items()}
    assert refs[one.serial_no] == ("T-1", ORDER)
    assert refs[batch[0].posting.serial_no] == ("T-1", {"line": "2"})  # ledger_post_batch
    assert refs[settled.serial_no] == ("T-1", ORDER)  # the hold's
    recharge = next(p for p in booked.values() if p["request_no"] == "ev-rc")
    assert (recharge["trade_no"], recharge["metadata"]) == (None, {})

    hold_events = [e.payload for e in events if e.aggregate_type == "hold" and e.aggregate_id == hold.id]
    assert [(p["trade_no"], p["metadata"]) for p in hold_events] == [("T-1", ORDER), ("T-1", ORDER)]
    # An event written before the fields existed still follows its v1 schema.
    earlier = as_published(next(e for e in events if e.type == "posting.booked"))
    del earlier["payload"]["trade_no"], earlier["payload"]["metadata"]
    validate(earlier)

    withdrawn = [e.payload for e in events if e.type == "withdrawal.status_changed"]
    assert [(p["withdrawal_id"], p["trade_no"], p["metadata"]) for p in withdrawn][:1] == [
        (withdrawal.id, "W-1", {"reason": "cash out"})
    ]
    w_hold = [e.payload for e in events if e.aggregate_type == "hold" and e.aggregate_id == withdrawal.hold_id]
    assert [(p["trade_no"], p["metadata"]) for p in w_hold] == [("W-1", {"reason": "cash out"})]
