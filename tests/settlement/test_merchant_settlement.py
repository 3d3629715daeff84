"""Merchant settlement T+N (待结算 → 可用), worked by hand: a T+1 merchant
over a weekend with a holiday; a refund of pending funds; the beat job run
twice, and twice at once from real threads."""

import threading
from datetime import date

import pytest
from django.db import connection

from postings.models import Posting
from reports.settlement.calendar import BusinessDays
from reports.settlement.models import BusinessDayOverride, MerchantSettlement, SettledEntry
from reports.settlement.selectors import merchant_position
from reports.settlement.services import merchant_settle, merchant_settlements_run

from .books import D, balances, on_day, pay, t_plus

FRI, SAT, SUN, MON, TUE, WED = (date(2026, 10, d) for d in (9, 10, 11, 12, 13, 14))


@pytest.fixture
def holiday_monday(ledger):
    BusinessDayOverride.objects.create(entity=ledger.entity, date=MON, business_day=False, name="holiday")


@pytest.mark.django_db
def test_business_days_skip_the_weekend_and_holidays(ledger, holiday_monday):
    days = BusinessDays(entity_id=ledger.entity.pk, around=FRI)
    assert days.after(FRI, 1) == TUE  # Saturday, Sunday, holiday Monday
    assert days.after(SAT, 1) == TUE
    assert days.after(THU := date(2026, 10, 8), 1) == FRI and days.after(THU, 2) == TUE
    # Friday to Monday (the holiday) is one stretch: its funds are all due on Tuesday.
    assert days.funds_due_through(TUE, 1) == MON
    assert days.funds_due_through(MON, 1) == THU
    BusinessDayOverride.objects.create(entity=ledger.entity, date=SAT, business_day=True, name="调休")
    assert BusinessDays(entity_id=ledger.entity.pk, around=FRI).after(FRI, 1) == SAT


@pytest.mark.django_db
def test_t_plus_1_over_a_weekend_with_a_holiday(ledger, holiday_monday):
    term, available, pending = t_plus(ledger, 1)
    buyer = ledger.cash()
    ledger.recharge(buyer, "1000")
    on_day(ledger.entity, FRI)
    pay(ledger, buyer, pending, "100.00")
    on_day(ledger.entity, SAT)
    pay(ledger, buyer, pending, "30.00")
    on_day(ledger.entity, MON)  # the holiday: nothing is due yet
    assert merchant_settle(term_id=term.pk) is None
    assert balances(available, pending) == [D("0"), D("130.00")]
    position = merchant_position(term)
    assert (position.pending, position.available, position.due_now) == (D("130.00"), D("0"), D("0"))
    assert [(line.accounting_date, line.due_on, line.amount) for line in position.schedule] == [
        (FRI, TUE, D("100.00")),
        (SAT, TUE, D("30.00")),
    ]

    on_day(ledger.entity, TUE)
    pay(ledger, buyer, pending, "7.00")  # Tuesday's own funds wait for Wednesday
    settlement = merchant_settle(term_id=term.pk)
    assert (settlement.amount, settlement.settled_on, settlement.funds_through) == (D("130.00"), TUE, MON)
    assert balances(available, pending) == [D("130.00"), D("7.00")]
    assert merchant_settle(term_id=term.pk) is None  # run again the same day: nothing moves twice

    on_day(ledger.entity, WED)
    assert merchant_settle(term_id=term.pk).amount == D("7.00")
    assert balances(available, pending) == [D("137.00"), D("0")]
    assert MerchantSettlement.objects.count() == 2
    assert SettledEntry.objects.filter(merchant_settlement__isnull=False).count() == 3


@pytest.mark.django_db
def test_a_refund_of_pending_funds_lowers_what_is_moved(ledger):
    term, available, pending = t_plus(ledger, 1)
    buyer = ledger.cash()
    ledger.recharge(buyer, "500")
    on_day(ledger.entity, TUE)
    pay(ledger, buyer, pending, "80.00")
    on_day(ledger.entity, WED)
    pay(ledger, pending, buyer, "30.00")  # a refund on Wednesday, before Tuesday's funds moved
    pay(ledger, buyer, pending, "50.00")  # Wednesday's own funds: due Thursday
    settlement = merchant_settle(term_id=term.pk)
    assert settlement.amount == D("50.00")  # 80 due less the 30 given back
    assert balances(available, pending) == [D("50.00"), D("50.00")]


@pytest.mark.django_db
def test_the_job_settles_every_merchant_and_a_second_run_moves_nothing(ledger):
    on_day(ledger.entity, TUE)
    buyer = ledger.cash()
    ledger.recharge(buyer, "500")
    merchants = [t_plus(ledger, 1) for _ in range(3)]
    for i, (_, _, pending) in enumerate(merchants, start=1):
        pay(ledger, buyer, pending, f"{i}0.00")
    on_day(ledger.entity, WED)
    run = merchant_settlements_run(batch=2)
    assert sorted(s.amount for s in run.settled) == [D("10.00"), D("20.00"), D("30.00")]
    assert merchant_settlements_run().settled == []
    assert [balances(a, p) for _, a, p in merchants] == [[D(f"{i}0.00"), D("0")] for i in (1, 2, 3)]


@pytest.mark.django_db(transaction=True)
def test_two_jobs_at_once_move_a_due_amount_once(ledger):
    on_day(ledger.entity, TUE)
    buyer = ledger.cash()
    ledger.recharge(buyer, "1000")
    merchants = [t_plus(ledger, 1) for _ in range(4)]
    for _, _, pending in merchants:
        for _ in range(3):
            pay(ledger, buyer, pending, "25.00")
    on_day(ledger.entity, WED)
    start, errors = threading.Barrier(2), []

    def job():
        try:
            start.wait()
            merchant_settlements_run()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert MerchantSettlement.objects.count() == 4
    assert Posting.objects.filter(business_type="settlement").count() == 4
    assert [balances(a, p) for _, a, p in merchants] == [[D("75.00"), D("0")]] * 4
