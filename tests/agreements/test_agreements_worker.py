"""The agreements' beat job through a real Celery worker on Redis, as beat
sends it: an agreement past its last day expires, a weekly agreement due
today is debited (hold -> settle) and a run sent again takes nothing twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from postings.agreements.models import Agreement, DebitAttempt, DebitInstruction
from postings.models import AccountingCalendar
from postings.selectors import current_accounting_date

from .books import sign

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_the_beat_job_expires_and_debits_on_the_worker(ledger, celery_worker_on_redis):
    run = celery_worker_on_redis
    today = timezone.localdate()  # the worker keeps the wall clock
    weekly = sign(
        ledger,
        frequency="weekly",
        schedule_day=today.isoweekday(),
        scheduled_amount="80.00",
        max_per_debit="100.00",
        max_per_period="500.00",
    )
    open_day = current_accounting_date(entity=ledger.entity)
    ending = sign(ledger, valid_to=open_day)
    # The day cut moved the entity's open day past the second one's last day.
    AccountingCalendar.objects.filter(entity=ledger.entity).update(open_date=open_day + timedelta(days=1))

    first = run("postings.agreements.tasks.agreements_run_due")
    assert first == {"expired": 1, "taken": 1, "partial": 0, "refused": 0}
    assert run("postings.agreements.tasks.agreements_run_due") == {
        "expired": 0,
        "taken": 0,
        "partial": 0,
        "refused": 0,
    }
    assert Agreement.objects.get(pk=ending.agreement.pk).status == "expired"
    instruction = DebitInstruction.objects.get(agreement=weekly.agreement)
    assert (instruction.due_date, instruction.status, instruction.taken) == (today, "done", Decimal("80.00"))
    attempt = DebitAttempt.objects.get(agreement=weekly.agreement)
    assert (attempt.actor, attempt.outcome, attempt.posting.business_type) == (
        "system:agreement-schedule",
        "taken",
        "agreement_debit",
    )
    assert ledger.balance(weekly.payer) == Decimal("920.00") and ledger.balance(weekly.payee) == Decimal("80.00")
