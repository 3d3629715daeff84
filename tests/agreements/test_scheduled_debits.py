"""Scheduled agreement debits (beat): a monthly agreement gets a debit
instruction on its day, taken through hold -> settle; short of funds it takes
what is available and retries the rest on schedule (partial allowed), or
takes nothing and retries until it gives up (not allowed); every attempt is
recorded. The day of the month falls back to the month's last day; a
revocation cancels what is open; a run twice takes nothing twice."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from postings.agreements.models import DebitAttempt, DebitInstruction
from postings.agreements.services import agreement_revoke, debits_run_due, instructions_make_due

from .books import sign

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock():
    with time_machine.travel(at(date(2026, 11, 3)), tick=False) as traveller:
        traveller.day = lambda d: traveller.move_to(at(d))
        yield traveller


def monthly(ledger, **terms):
    terms = {"frequency": "monthly", "schedule_day": 5, "scheduled_amount": "100.00", **terms}
    return sign(ledger, max_per_debit="100.00", max_per_period="300.00", **terms)


def outcomes(m):
    return list(
        DebitAttempt.objects.filter(agreement=m.agreement)
        .order_by("id")
        .values_list("request_no", "outcome", "amount_asked", "amount_taken")
    )


def test_partial_debits_take_what_is_there_and_retry_the_rest(ledger, clock):
    m = monthly(ledger, funds="60.00", allow_partial=True, retry_every_days=1, max_retries=2)
    clock.day(date(2026, 11, 4))
    assert debits_run_due() == {"taken": 0, "partial": 0, "refused": 0}  # not due before the 5th
    clock.day(date(2026, 11, 5))
    assert debits_run_due() == {"taken": 0, "partial": 1, "refused": 0}
    assert debits_run_due() == {"taken": 0, "partial": 0, "refused": 0}  # run twice: nothing twice
    clock.day(date(2026, 11, 6))
    ledger.recharge(m.payer, "10.00")
    debits_run_due()
    clock.day(date(2026, 11, 7))
    ledger.recharge(m.payer, "500.00")
    assert debits_run_due() == {"taken": 1, "partial": 0, "refused": 0}
    instruction = DebitInstruction.objects.get(agreement=m.agreement)
    assert (instruction.due_date, instruction.status, instruction.taken, instruction.attempts) == (
        date(2026, 11, 5),
        "done",
        Decimal("100.00"),
        3,
    )
    n = instruction.pk
    assert outcomes(m) == [
        (f"sched-I{n}-1", "partial", Decimal("100.00"), Decimal("60.00")),
        (f"sched-I{n}-2", "partial", Decimal("40.00"), Decimal("10.00")),
        (f"sched-I{n}-3", "taken", Decimal("30.00"), Decimal("30.00")),
    ]
    assert ledger.balance(m.payee) == Decimal("100.00") and ledger.balance(m.payer) == Decimal("470.00")
    assert ledger.fresh(m.payer).frozen == 0


def test_without_partial_debits_nothing_is_taken_and_the_instruction_gives_up(ledger, clock):
    m = monthly(ledger, funds="60.00", retry_every_days=2, max_retries=1)
    clock.day(date(2026, 11, 5))
    assert debits_run_due() == {"taken": 0, "partial": 0, "refused": 1}
    clock.day(date(2026, 11, 6))
    assert debits_run_due()["refused"] == 0  # the retry is two days later
    clock.day(date(2026, 11, 7))
    assert debits_run_due()["refused"] == 1
    clock.day(date(2026, 11, 9))
    assert debits_run_due()["refused"] == 0  # given up after its one retry
    instruction = DebitInstruction.objects.get(agreement=m.agreement)
    assert (instruction.status, instruction.taken, instruction.attempts) == ("failed", 0, 2)
    assert [(o, t) for _, o, _, t in outcomes(m)] == [("refused", 0), ("refused", 0)]
    assert set(DebitAttempt.objects.filter(agreement=m.agreement).values_list("code", flat=True)) == {
        "insufficient_funds"
    }
    assert ledger.balance(m.payer) == Decimal("60.00") and ledger.fresh(m.payer).frozen == 0


def test_the_31st_is_the_last_day_of_a_shorter_month_and_a_missed_run_is_caught_up(ledger, clock):
    m = monthly(ledger, schedule_day=31)
    clock.day(date(2026, 11, 29))
    assert instructions_make_due() == 0
    clock.day(date(2026, 12, 2))  # the job did not run on the 30th
    assert instructions_make_due() == 1
    assert instructions_make_due() == 0
    assert list(DebitInstruction.objects.filter(agreement=m.agreement).values_list("due_date", flat=True)) == [
        date(2026, 11, 30)
    ]
    debits_run_due()
    assert ledger.balance(m.payee) == Decimal("100.00")


def test_a_suspended_agreement_is_retried_and_a_revoked_one_cancelled(ledger, clock):
    from postings.agreements.services import agreement_suspend

    m = monthly(ledger, retry_every_days=1, max_retries=5)
    agreement_suspend(agreement_id=m.agreement.pk, reason="member asked", request_no="s", actor="app")
    clock.day(date(2026, 11, 5))
    assert instructions_make_due() == 0  # none is made while suspended
    from postings.agreements.services import agreement_resume

    agreement_resume(agreement_id=m.agreement.pk, request_no="r", actor="app")
    instructions_make_due()
    agreement_suspend(agreement_id=m.agreement.pk, reason="again", request_no="s2", actor="app")
    assert debits_run_due()["refused"] == 1
    assert DebitAttempt.objects.get(agreement=m.agreement).code == "no_agreement"
    agreement_revoke(agreement_id=m.agreement.pk, reason="loan repaid", request_no="v", actor="app")
    clock.day(date(2026, 11, 6))
    assert debits_run_due()["refused"] == 0
    assert DebitInstruction.objects.get(agreement=m.agreement).status == "cancelled"
    assert ledger.balance(m.payee) == 0
