"""The credit staff pages, per role: who reads the bills (and their CSV),
the overdue list (and its CSV), a bill and a credit line; who may raise or
lower a limit. Every page and action is tried by every role."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, CreditLimitChange
from tests.reports.reporting import staff_user

from .books import bills_of, buy, ensure_credit_roles, member, open_on, product, run_until

pytestmark = pytest.mark.django_db

ROLES = ["Finance staff", "Auditor", "Ledger admin", "Reviewer", "Cashier", None]
READS = {"Finance staff", "Auditor", "Ledger admin"}
SETS_LIMITS = {"Finance staff"}


@pytest.fixture
def books(ledger):
    """Two members billed 1 Feb: one paid, one not (overdue since the 10th)."""
    ensure_credit_roles()
    open_on(ledger.entity, date(2026, 1, 1))
    product(ledger)
    late, paid = member(ledger), member(ledger)
    buy(late, "1000.00")
    buy(paid, "200.00")
    run_until(ledger.entity, date(2026, 2, 5))
    from postings.credit.services import bill_repay

    bill_repay(
        credit_account_no=paid.credit.account_no,
        cash_account_no=paid.cash.account_no,
        amount="200.00",
        request_no="paid-in-full",
        posted_by="app",
    )
    run_until(ledger.entity, date(2026, 2, 13))
    return {"late": late, "paid": paid, "bill": bills_of(late.credit)[0]}


def client_of(role: str | None) -> Client:
    client = Client()
    client.force_login(staff_user(f"u-{(role or 'none').replace(' ', '-').lower()}", role))
    return client


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("role", ROLES)
def test_who_reads_the_credit_pages(role, books):
    client = client_of(role)
    expected = 200 if role in READS else 403
    for url in (
        reverse("postings:credit_bills"),
        reverse("postings:credit_bills_csv"),
        reverse("postings:credit_overdue"),
        reverse("postings:credit_overdue_csv"),
        reverse("postings:credit_bill", args=[books["bill"].pk]),
        reverse("postings:credit_line", args=[books["late"].credit.account_no]),
    ):
        assert client.get(url).status_code == expected, url


@pytest.mark.parametrize("role", ROLES)
def test_who_may_change_a_limit(role, books):
    client = client_of(role)
    credit = books["late"].credit
    url = reverse("postings:credit_limit_set", args=[credit.account_no])
    response = client.post(url, {"credit_limit": "800", "reason": "risk review"})
    if role in SETS_LIMITS:
        assert response.status_code == 302
        change = CreditLimitChange.objects.get(account=credit)
        assert (change.new_limit, change.used, change.changed_by) == (
            800,
            Account.objects.get(pk=credit.pk).balance,
            "u-finance-staff",
        )
        assert Account.objects.get(pk=credit.pk).credit_limit == 800
    else:
        assert response.status_code == 403
        assert not CreditLimitChange.objects.exists()


def test_the_overdue_list_and_its_csv(books):
    client = client_of("Auditor")
    page = client.get(reverse("postings:credit_overdue")).content.decode()
    late, paid = books["late"].credit.account_no, books["paid"].credit.account_no
    assert late in page and paid not in page
    (row,) = csv_rows(client.get(reverse("postings:credit_overdue_csv")))
    assert {k: row[k] for k in ("account_no", "due_date", "days_overdue", "amount_due_left", "minimum_due_left")} == {
        "account_no": late,
        "due_date": "2026-02-10",
        "days_overdue": "3",
        "amount_due_left": "1000.00",
        "minimum_due_left": "100.00",
    }
    assert (row["interest_accrued"], row["penalty_accrued"], row["owed_now"]) == ("1.50", "0.09", "1001.59")
    assert csv_rows(client.get(reverse("postings:credit_overdue_csv"), {"min_days": "4"})) == []


def test_the_bills_by_member_and_billing_day_and_their_csv(books):
    client = client_of("Finance staff")
    member_no = books["paid"].credit.member.member_no
    rows = csv_rows(client.get(reverse("postings:credit_bills_csv"), {"member": member_no}))
    assert [(r["billing_date"], r["amount_due"], r["status"]) for r in rows] == [("2026-02-01", "200.00", "paid")]
    rows = csv_rows(client.get(reverse("postings:credit_bills_csv"), {"billing_date": "2026-02-01"}))
    assert sorted(r["status"] for r in rows) == ["overdue", "paid"]
    page = client.get(reverse("postings:credit_bills"), {"billing_date": "2026-03-01"}).content.decode()
    assert "No bill matches these filters" in page


def test_a_bill_shows_its_movements_and_accruals(books):
    client = client_of("Auditor")
    page = client.get(reverse("postings:credit_bill", args=[books["bill"].pk])).content.decode()
    assert "1,000.00" in page and "2026-02-10" in page
    line = client.get(reverse("postings:credit_line", args=[books["late"].credit.account_no])).content.decode()
    assert "1,001.59" in line and "Finance staff change the limit" in line
