"""The end of day's escrow check (担保户核对): each escrow account's balance
is the sum of its open guarantee orders' balances, and each order follows
from its events; what breaks it is named, down to the orders and the
postings on the escrow account that no order made.

The day (Nov 2): a buyer pays three orders of 100.00, 60.00 and 40.00 into
escrow; the first is partly refunded (30.00), the third confirmed. Escrow
then holds 70.00 + 60.00 = 130.00 for the two open orders."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction

from postings.services import Leg, order_confirm, order_refund, posting_create
from reports.eod.services import eod_run
from tests.postings.order_books import shop

from .eod_books import checks, failed_checks, open_books_on

pytestmark = pytest.mark.django_db(transaction=True)

NOV2 = date(2026, 11, 2)


@pytest.fixture
def day(ledger):
    open_books_on(ledger.entity, NOV2)
    s = shop(ledger)
    one, two, three = s.open("o-1", "100.00"), s.open("o-2", "60.00"), s.open("o-3", "40.00", commission="1.00")
    order_refund(order_id=one.pk, amount="30.00", request_no="r1", actor="mall")
    order_confirm(order_id=three.pk, request_no="c3", actor="mall")
    return s, one, two, three


def test_a_day_of_orders_passes(ledger, day):
    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    assert failed_checks(ledger.entity, NOV2) == set()
    escrow = checks(ledger.entity, NOV2)["escrow_orders"]
    assert escrow.summary == "1 escrow accounts = their open orders' balances; 3 orders follow from their events"


def test_money_moved_on_escrow_past_the_orders_is_named_with_its_posting(ledger, day):
    s, *_ = day
    stray = posting_create(
        request_no="stray",
        business_type="transfer",
        posted_by="someone",
        legs=[Leg.debit(s.escrow.account_no, "25.00"), Leg.credit(s.merchant.account_no, "25.00")],
    )
    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    assert "escrow_orders" in failed_checks(ledger.entity, NOV2)
    escrow = checks(ledger.entity, NOV2)["escrow_orders"]
    assert escrow.details == [
        {
            "account_no": s.escrow.account_no,
            "balance": "105.0000",
            "open_orders": 2,
            "open_orders_balance": "130.0000",
            "difference": "-25.0000",
            "orders": [],
            "postings_outside_orders": [stray.serial_no],
        }
    ]


def test_an_order_forged_past_the_triggers_is_named(ledger, day):
    """A superuser (triggers off) lowers the open order's balance by 20.00
    and pays it to the merchant's wallet by editing balances: the escrow
    account and the order are named."""
    s, one, two, _ = day
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE postings_guaranteeorder SET balance = 40 WHERE id = %s", [two.pk])
    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    escrow = checks(ledger.entity, NOV2)["escrow_orders"]
    assert not escrow.passed
    assert escrow.details == [
        {
            "account_no": s.escrow.account_no,
            "balance": "130.0000",
            "open_orders": 2,
            "open_orders_balance": "110.0000",
            "difference": "20.0000",
            "orders": [f"O{two.pk} {two.order_no}"],
            "postings_outside_orders": [],
        },
        {
            "order": two.pk,
            "order_no": two.order_no,
            "account_no": s.escrow.account_no,
            "balance": "40.0000",
            "status": "paid",
            "problem": f"order {two.pk}: escrow balance 40.0000, but its events leave 60.0000 (paid 60.0000, out 0)",
        },
    ]
    assert escrow.summary == "1 escrow accounts differ from their open orders; 1 orders do not follow from their events"
    assert Decimal(escrow.details[0]["difference"]) == Decimal("20")
