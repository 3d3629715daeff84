"""What the database refuses about refunds (postings/sql/refunds.sql), with
real connections: 8 threads refunding one payment through the service, 8
runtime-role connections forging refund legs at once, and single forgeries
committed as the runtime role. Nothing is ever refunded beyond what a leg
moved."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from postings.models import Entry, Posting, Refund, RefundLeg
from postings.selectors import account_chain_breaks, identity_totals, refunded_legs
from postings.services import Leg, posting_create, refund_create
from tests.conftest import RUNTIME_ROLE

from .test_concurrency import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture
def payment(ledger):
    alice, merchant, partner = ledger.cash(), ledger.cash(), ledger.cash()
    fee = ledger.internal("FEE_INCOME")
    ledger.recharge(alice, "500")
    posting = posting_create(
        request_no="pay-1",
        business_type="transfer",
        posted_by="trade",
        legs=[
            Leg.debit(alice.account_no, "100.00"),
            Leg.credit(merchant.account_no, "97.00"),
            Leg.credit(fee.account_no, "2.00"),
            Leg.credit(partner.account_no, "1.00"),
        ],
    )
    posting.accounts = dict(alice=alice, merchant=merchant, partner=partner, fee=fee)
    return posting


def test_eight_threads_refunding_one_payment_never_over_refund(payment, ledger):
    """8 refunds of 30.00 against 100.00 at once: three are taken, the other
    five refused (the fourth would need 120.00), every leg within its amount."""

    def work(i):
        try:
            refund_create(serial_no=payment.serial_no, request_no=f"t{i}", amount="30.00", requested_by=f"w{i}")
        except Exception as exc:  # noqa: BLE001 - counted below
            return getattr(exc, "code", repr(exc))
        return "refunded"

    results = run_parallel(8, work)
    assert Counter(results) == Counter(refunded=3, refund_exceeds_original=5), results
    legs = refunded_legs(original=payment)
    assert all(leg.refunded <= leg.entry.amount for leg in legs)
    assert sum(leg.refunded for leg in legs if leg.entry.direction == "D") == D("90.00")
    assert ledger.balance(payment.accounts["alice"]) == D("490.00")
    assert all(t.holds for t in identity_totals())
    for account in payment.accounts.values():
        assert account_chain_breaks(account=ledger.fresh(account)) == []


# ------------------------------------------------ forgeries, by hand ----


def _forged_refund(run, payment, posting_id, *, status="posted"):
    (row,) = run(
        "INSERT INTO postings_refund (original_id, posting_id, amount, currency, status, needs_approval, reason,"
        " source_system, request_no, fingerprint, requested_by, decision_note, created_at)"
        " VALUES (%s, %s, 1, 'CNY', %s, '', '', 'forger', %s, 'x', 'forger', '', now()) RETURNING id",
        [payment.serial_no, posting_id, status, f"forged-{posting_id}-{status}"],
    )
    return row[0]


def _spare_posting(ledger) -> int:
    """A posting a forged refund can point at (refund.posting is one-to-one)."""
    return ledger.recharge(ledger.cash(), "1").serial_no


def _merchant_entry(payment) -> Entry:
    return Entry.objects.get(posting=payment, account=payment.accounts["merchant"])


def _refused(run, sql, params, words):
    with pytest.raises(psycopg.Error) as refused:
        run(sql, params)
    assert words in str(refused.value), refused.value


def test_a_refund_leg_beyond_the_entry_is_refused(runtime_sql, payment, ledger):
    refund_id = _forged_refund(runtime_sql, payment, _spare_posting(ledger))
    entry = _merchant_entry(payment)
    insert = (
        "INSERT INTO postings_refundleg (refund_id, original_entry_id, amount, from_reserve) VALUES (%s, %s, %s, 0)"
    )
    runtime_sql(insert, [refund_id, entry.serial_no, "90.00"])  # within 97.00: taken
    _refused(runtime_sql, insert, [refund_id, entry.serial_no, "7.01"], "duplicate key")  # one leg per entry
    second = _forged_refund(runtime_sql, payment, _spare_posting(ledger))
    _refused(runtime_sql, insert, [second, entry.serial_no, "7.01"], "refund_exceeds_original")
    runtime_sql(insert, [second, entry.serial_no, "7.00"])  # exactly what is left: taken
    assert RefundLeg.objects.filter(original_entry=entry).count() == 2


def test_a_leg_of_another_posting_or_of_an_unposted_refund_is_refused(runtime_sql, payment, ledger):
    insert = "INSERT INTO postings_refundleg (refund_id, original_entry_id, amount, from_reserve) VALUES (%s, %s, 1, 0)"
    other = Entry.objects.filter(posting__business_type="recharge").first()
    refund_id = _forged_refund(runtime_sql, payment, _spare_posting(ledger))
    _refused(runtime_sql, insert, [refund_id, other.serial_no], "is not a leg of the refunded posting")
    pending = _forged_refund(runtime_sql, payment, None, status="pending_approval")
    _refused(runtime_sql, insert, [pending, _merchant_entry(payment).serial_no], "the refund is not posted")


def test_refund_legs_and_decided_refunds_never_change(runtime_sql, payment, ledger):
    done = refund_create(serial_no=payment.serial_no, request_no="r1", amount="10.00", requested_by="t")
    leg = done.legs.first()
    _refused(runtime_sql, "UPDATE postings_refundleg SET amount = 0.01 WHERE id = %s", [leg.pk], "Cannot update")
    _refused(runtime_sql, "DELETE FROM postings_refundleg WHERE id = %s", [leg.pk], "Cannot update or delete")
    _refused(runtime_sql, "UPDATE postings_refund SET amount = 1 WHERE id = %s", [done.pk], "decided once")
    _refused(runtime_sql, "DELETE FROM postings_refund WHERE id = %s", [done.pk], "Cannot delete")
    assert Refund.objects.get(pk=done.pk).amount == D("10.00")


def test_legs_written_under_repeatable_read_are_refused(runtime_sql, payment, ledger):
    refund_id = _forged_refund(runtime_sql, payment, _spare_posting(ledger))
    conn = runtime_sql.connection
    with pytest.raises(psycopg.Error) as refused:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(
                "INSERT INTO postings_refundleg (refund_id, original_entry_id, amount, from_reserve)"
                " VALUES (%s, %s, 1, 0)",
                [refund_id, _merchant_entry(payment).serial_no],
            )
    assert "REPEATABLE READ" in str(refused.value)


def test_eight_runtime_connections_forging_legs_at_once_are_held_to_the_entry(runtime_sql, payment, ledger):
    """Python bypassed: 8 connections as the runtime role each write a refund
    of 20.00 off the merchant's 97.00 leg, at the same instant, each waiting
    in its transaction before COMMIT. The database's lock makes them queue;
    four fit, the other four are refused."""
    spares = [_spare_posting(ledger) for _ in range(8)]
    refunds = [_forged_refund(runtime_sql, payment, spare) for spare in spares]
    entry = _merchant_entry(payment)
    db = connection.settings_dict
    barrier = threading.Barrier(8)
    results: list = [None] * 8

    def forge(i):
        try:
            with psycopg.connect(host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=RUNTIME_ROLE) as conn:
                barrier.wait()
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO postings_refundleg (refund_id, original_entry_id, amount, from_reserve)"
                        " VALUES (%s, %s, 20, 0)",
                        [refunds[i], entry.serial_no],
                    )
                    cursor.execute("SELECT pg_sleep(0.2)")  # hold the transaction open: the others must wait
            results[i] = "written"
        except psycopg.Error as exc:
            results[i] = "refund_exceeds_original" if "refund_exceeds_original" in str(exc) else repr(exc)

    threads = [threading.Thread(target=forge, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Counter(results) == Counter(written=4, refund_exceeds_original=4), results
    assert sum(RefundLeg.objects.filter(original_entry=entry).values_list("amount", flat=True)) == D("80.00")
    assert Posting.objects.filter(serial_no=payment.serial_no).exists()
