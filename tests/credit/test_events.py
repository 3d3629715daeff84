"""The credit product's events (docs/events/): bill.issued with the bill,
credit.accrual_booked with each accrual, account.limit_changed with a limit
change, each in its change's transaction and valid against its schema."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.services import account_set_credit_limit
from tests.events.scripted import as_published, number_everything, validate

from .books import buy, member, open_on, product, run_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_bills_accruals_and_limit_changes_are_published(ledger):
    open_on(ledger.entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 12))
    account_set_credit_limit(account=m.credit, credit_limit="600", reason="risk", actor="risk")
    events = number_everything()
    for event in events:
        validate(as_published(event))
    (bill,) = [e for e in events if e.type == "bill.issued"]
    assert (bill.payload["account_no"], bill.payload["amount_due"], bill.payload["minimum_due"]) == (
        m.credit.account_no,
        "1000.0000",
        "100.0000",
    )
    assert (bill.payload["period_end"], bill.payload["due_date"]) == ("2026-01-31", "2026-02-10")
    accruals = [e.payload for e in events if e.type == "credit.accrual_booked"]
    assert [(a["accrual_date"], a["kind"], a["amount"]) for a in accruals] == [
        ("2026-02-11", "interest", "0.5000"),
        ("2026-02-11", "penalty", "0.0300"),
        ("2026-02-12", "interest", "0.5000"),
        ("2026-02-12", "penalty", "0.0300"),
    ]
    line = [e for e in events if e.aggregate_type == "account" and e.aggregate_id == m.credit.pk]
    assert [e.type for e in line][-1] == "account.limit_changed"
    assert [e.aggregate_version for e in line] == list(range(1, len(line) + 1))
