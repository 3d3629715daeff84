"""Members' monthly statements (月度对账单): October's made once each for the
member accounts that moved or held money, their PDFs read back with
pdftotext and checked against the ledger; a second run and two runs at once
make none twice; an entity not yet cut past the month waits; the database
keeps a statement as it was made; who may see them on the staff pages and
through the API."""

from __future__ import annotations

import hashlib
import threading
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client

from postings.models import Entry, MonthlyStatement
from postings.services.calendar import day_cut
from postings.services.statements import monthly_statements_generate
from tests import pdftext
from tests.api.conftest import Caller, client_with_key, error_of
from tests.reports.reporting import staff_user
from tests.withdrawals.conftest import ROLES

from .statement_books import OCTOBER, ensure_statement_roles, october_books

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(ledger):
    ensure_statement_roles()  # a transactional test's flush may have emptied the roles
    return october_books(ledger)


def test_octobers_statements_for_the_accounts_that_moved_or_held_money(books):
    run = monthly_statements_generate(month=OCTOBER)
    assert (run.month, run.made, run.entities_waiting) == (OCTOBER, 3, [])
    made = {s.account_id: s for s in MonthlyStatement.objects.all()}
    assert set(made) == {books.alice.pk, books.bob.pk, books.carol.pk}  # not Dave, not the channel

    for name, (opening, debits, credits, closing, count) in books.expected.items():
        account = getattr(books, name)
        statement = made[account.pk]
        figures = (statement.opening, statement.debit_total, statement.credit_total, statement.closing)
        assert figures + (statement.entry_count,) == (opening, debits, credits, closing, count), name
        pdf = bytes(statement.pdf)
        assert statement.sha256 == hashlib.sha256(pdf).hexdigest()

        paper = pdftext.statement(pdf)
        october = list(
            Entry.objects.filter(account=account, accounting_date__range=(OCTOBER, date(2026, 10, 31))).order_by(
                "account_seq"
            )
        )
        assert [line[0] for line in paper.lines] == [e.serial_no for e in october]
        running = paper.opening
        for (_, debit, credit, balance), entry in zip(paper.lines, october):
            running += (credit or 0) - (debit or 0)
            assert balance == running == entry.balance_after
        assert (paper.opening, paper.debit_total, paper.credit_total, paper.closing, paper.entry_count) == (
            opening,
            debits,
            credits,
            closing,
            count,
        )
        text = pdftext.squeezed(pdf)
        assert "Monthly statement 月度对账单" in text and "Period 期间 2026-10-01 – 2026-10-31" in text
        assert f"{account.member.name} ({account.member.member_no})" in text
        assert f"Closing balance 期末余额 CNY {closing:,.2f}" in text


def test_a_second_run_keeps_what_the_first_made(books):
    assert monthly_statements_generate(month=OCTOBER).made == 3
    before = {s.pk: (s.sha256, s.generated_at) for s in MonthlyStatement.objects.all()}
    assert monthly_statements_generate(month=OCTOBER).made == 0
    assert {s.pk: (s.sha256, s.generated_at) for s in MonthlyStatement.objects.all()} == before


def test_an_entity_still_in_the_month_waits_for_its_cut(ledger):
    books = october_books(ledger, cut_october=False)  # the books are still open on 2026-10-31
    run = monthly_statements_generate(month=OCTOBER)
    assert (run.made, run.entities_waiting) == (0, ["MAIN"])
    day_cut(entity=ledger.entity, day=date(2026, 10, 31))
    assert monthly_statements_generate(month=OCTOBER).made == 3
    assert MonthlyStatement.objects.get(account=books.alice).closing == Decimal("90.50")


@pytest.mark.time_machine(datetime(2026, 11, 1, 2, 30, tzinfo=ZoneInfo("Asia/Shanghai")))
def test_without_a_month_the_job_makes_last_months(books):
    assert monthly_statements_generate().month == OCTOBER
    assert set(MonthlyStatement.objects.values_list("month", flat=True)) == {OCTOBER}


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_make_each_statement_once(ledger):
    october_books(ledger)
    results, errors = [], []
    start = threading.Barrier(2)

    def run():
        try:
            start.wait()
            results.append(monthly_statements_generate(month=OCTOBER).made)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and sum(results) == 3, (results, errors)
    assert MonthlyStatement.objects.count() == 3


# ------------------------------------------------- what the database refuses ----


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "sql,refusal",
    [
        ("UPDATE postings_monthlystatement SET closing = closing + 1000", "is kept as it was made: UPDATE refused"),
        ("UPDATE postings_monthlystatement SET pdf = 'x'::bytea, sha256 = encode(sha256('x'::bytea), 'hex')", "UPDATE"),
        ("DELETE FROM postings_monthlystatement", "is kept as it was made: DELETE refused"),
        (
            "INSERT INTO postings_monthlystatement (account_id, month, currency, opening, closing, debit_total, "
            "credit_total, entry_count, pdf, sha256, generated_by, generated_at) SELECT account_id, month - "
            "interval '1 month', currency, 0, 0, 0, 0, 0, 'forged'::bytea, sha256, 'x', now() "
            "FROM postings_monthlystatement LIMIT 1",
            "is not the PDF's",
        ),
    ],
)
def test_a_statement_is_kept_as_it_was_made(ledger, runtime_sql, sql, refusal):
    import psycopg

    october_books(ledger)
    monthly_statements_generate(month=OCTOBER)
    before = list(MonthlyStatement.objects.order_by("pk").values_list("pk", "closing", "sha256"))
    with pytest.raises(psycopg.errors.Error) as refused:
        runtime_sql(sql)
    assert refusal in str(refused.value)
    assert list(MonthlyStatement.objects.order_by("pk").values_list("pk", "closing", "sha256")) == before


# ---------------------------------------------------- staff pages, per role ----

MAY_SEE = {"Finance staff", "Auditor", "Ledger admin"}


@pytest.mark.parametrize("role", [*ROLES, None])
def test_who_sees_and_downloads_statements(books, role):
    monthly_statements_generate(month=OCTOBER)
    statement = MonthlyStatement.objects.get(account=books.alice)
    browser = Client()
    browser.force_login(staff_user(f"u-{role or 'none'}".replace(" ", "-"), role))
    listing = browser.get("/postings/statements/")
    download = browser.get(f"/postings/statements/{statement.pk}.pdf")
    if role in MAY_SEE:
        assert listing.status_code == 200 and download.status_code == 200
        assert download["Content-Type"] == "application/pdf"
        assert download.content == bytes(statement.pdf)
        assert f'filename="statement-{books.alice.account_no}-2026-10.pdf"' in download["Content-Disposition"]
    else:
        assert (listing.status_code, download.status_code) == (403, 403)


def test_the_list_filters_by_member_and_month(books):
    ensure_statement_roles()
    monthly_statements_generate(month=OCTOBER)
    browser = Client()
    browser.force_login(staff_user("finance", "Finance staff"))

    def accounts(**params):
        page = browser.get("/postings/statements/", params).content.decode()
        return {a.account_no for a in (books.alice, books.bob, books.carol, books.dave) if a.account_no in page}

    assert accounts() == {books.alice.account_no, books.bob.account_no, books.carol.account_no}
    assert accounts(member="张三") == {books.alice.account_no}
    assert accounts(member=books.bob.member.member_no) == {books.bob.account_no}
    assert accounts(month="2026-10") == {books.alice.account_no, books.bob.account_no, books.carol.account_no}
    assert accounts(month="2026-09") == set()
    page = browser.get("/postings/statements/", {"month": "October"}).content.decode()
    assert "A month as YYYY-MM." in page


# --------------------------------------------------------------------- API ----


def test_the_api_lists_and_serves_an_accounts_statements(books):
    monthly_statements_generate(month=OCTOBER)
    _, key = client_with_key("app", ["read"])
    app = Caller(key, "app")
    statement = MonthlyStatement.objects.get(account=books.alice)
    listing = app.get(f"accounts/{books.alice.account_no}/statements")
    assert listing.status_code == 200
    assert listing.json() == {
        "account_no": books.alice.account_no,
        "statements": [
            {
                "month": "2026-10",
                "account_no": books.alice.account_no,
                "currency": "CNY",
                "opening": "100.00",
                "debit_total": "30.00",
                "credit_total": "20.50",
                "closing": "90.50",
                "entry_count": 2,
                "sha256": statement.sha256,
                "generated_at": listing.json()["statements"][0]["generated_at"],
                "pdf": f"/api/v1/accounts/{books.alice.account_no}/statements/2026-10.pdf",
            }
        ],
    }
    pdf = app.http.get(listing.json()["statements"][0]["pdf"], **app.headers())
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == statement.sha256
    assert app.get(f"accounts/{books.dave.account_no}/statements").json()["statements"] == []
    error_of(app.get(f"accounts/{books.dave.account_no}/statements/2026-10.pdf"), 404, "not_found")
    error_of(app.get(f"accounts/{books.alice.account_no}/statements/2026-13.pdf"), 404, "not_found")
    error_of(app.get("accounts/nope/statements"), 404, "not_found")
    _, post_key = client_with_key("poster", ["post"])
    error_of(Caller(post_key).get(f"accounts/{books.alice.account_no}/statements/2026-10.pdf"), 403, "forbidden")
