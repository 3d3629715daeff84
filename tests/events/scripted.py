"""A scripted day for the event tests: every kind of change that writes an
event, through the services, each committed on its own; and one posting
rolled back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from accounts.services import account_change_status, account_set_credit_limit
from events.models import Event
from events.services import event_message, events_sequence
from postings.services import (
    Leg,
    PostingRequest,
    buffers,
    hold_place,
    hold_release,
    hold_settle,
    posting_create,
    posting_create_batch,
    posting_reverse,
)
from withdrawals.services import withdrawal_request

SCHEMAS = Path(settings.BASE_DIR) / "docs" / "events"


def schema_of(event_type: str) -> dict:
    return json.loads((SCHEMAS / f"{event_type}.v1.json").read_text(encoding="utf-8"))


def as_published(event: Event) -> dict:
    """The event as JSON carries it (the relay's and the API's shape)."""
    return json.loads(json.dumps(event_message(event), cls=DjangoJSONEncoder))


def number_everything() -> list[Event]:
    """Number every committed event (what a relay's loop does), then return
    the numbered ones. In a transactional test everything written has
    committed; numbering may still wait a round or two for transactions of
    the server that were open at its last snapshot."""
    for _ in range(600):
        events_sequence(rounds=1)
        if not Event.objects.filter(seq__isnull=True).exists():
            break
        time.sleep(0.05)
    return list(Event.objects.filter(seq__isnull=False).order_by("seq"))


def validate(message: dict) -> None:
    jsonschema.validate(message, schema_of(message["type"]), format_checker=jsonschema.FormatChecker())


class Rollback(Exception):
    pass


def scripted_day(ledger, *, prefix: str = "day") -> dict:
    """Returns what was done, for the tests to look for."""
    payer, payee, credit = ledger.cash(), ledger.cash(), ledger.credit(limit="500")
    fee_income = ledger.internal("FEE_INCOME")
    buffers.posting_mode_set(mode="buffered", actor="test", account=fee_income)
    ledger.recharge(payer, "1000.00", request_no=f"{prefix}-rc")
    transfer = posting_create(
        request_no=f"{prefix}-tr",
        business_type="transfer",
        legs=[Leg(payer.account_no, "D", "100.00"), Leg(payee.account_no, "C", "100.00")],
        posted_by="test",
    )
    posting_create_batch(
        [
            PostingRequest(
                request_no=f"{prefix}-b{i}",
                business_type="fee",
                legs=[Leg(payer.account_no, "D", "1.00"), Leg(fee_income.account_no, "C", "1.00")],
            )
            for i in range(3)
        ],
        posted_by="test",
    )
    posting_reverse(serial_no=transfer.serial_no, request_no=f"{prefix}-rv", posted_by="test")
    hold = hold_place(
        account_no=payer.account_no, amount="50.00", reason="order", request_no=f"{prefix}-h1", actor="test"
    )
    hold_settle(
        hold_id=hold.id,
        amount="20.00",
        business_type="guarantee_settlement",
        counter_account_no=payee.account_no,
        request_no=f"{prefix}-h1s",
        actor="test",
    )
    hold_release(hold_id=hold.id, request_no=f"{prefix}-h1r", actor="test")
    try:
        with transaction.atomic():
            posting_create(
                request_no=f"{prefix}-rolled-back",
                business_type="transfer",
                legs=[Leg(payer.account_no, "D", "5.00"), Leg(payee.account_no, "C", "5.00")],
                posted_by="test",
            )
            raise Rollback
    except Rollback:
        pass
    account_change_status(account=payee, to_status="debit_blocked", reason="check", actor="test")
    account_change_status(account=payee, to_status="active", reason="checked", actor="test")
    account_set_credit_limit(account=credit, credit_limit="800", reason="good payer", actor="test")
    withdrawal = withdrawal_request(
        account_no=payer.account_no,
        amount="30.00",
        card_holder=payer.member.name,
        card_bank="ICBC",
        card_number="6222020200112233446",
        request_no=f"{prefix}-w1",
    )
    buffers.buffers_flush()
    return {"payer": payer, "payee": payee, "fee_income": fee_income, "hold": hold, "withdrawal": withdrawal}
