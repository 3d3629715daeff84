"""Helpers of the end-of-day tests: put an entity's calendar on a chosen
day, post business events by rule, and read the day's report rows back in
a form a test can compare with figures worked out by hand."""

from __future__ import annotations

import itertools
from datetime import date, time
from decimal import Decimal

from django.db import connection

from postings.models import AccountingCalendar, AccountingDay, Entry
from postings.services import posting_create_by_rule
from postings.services.calendar import calendar_for
from reports.eod.models import BalanceSheetRow, CheckResult
from reports.vouchers.models import VoucherLine

D = Decimal
_requests = itertools.count(1)


def open_books_on(entity, day: date, cut_time: time = time(0, 0)) -> None:
    """Start the entity's calendar on ``day`` (test setup: production opens
    it once, on the day the ledger goes live)."""
    calendar_for(entity=entity)
    AccountingCalendar.objects.filter(entity=entity).update(open_date=day, cut_time=cut_time)
    AccountingDay.objects.filter(entity=entity).delete()
    AccountingDay.objects.create(entity=entity, date=day)


def open_date(entity) -> date:
    return AccountingCalendar.objects.get(entity=entity).open_date


def post(rule: str, **params):
    params = {k: (v.account_no if hasattr(v, "account_no") else v) for k, v in params.items()}
    return posting_create_by_rule(
        business_type=rule, request_no=f"eod-{rule}-{next(_requests)}", params=params, posted_by="accountant"
    )


def sheet(entity, day: date) -> dict[str, tuple]:
    """account_no -> (opening, debit, credit, closing, entry count)."""
    return {
        row.account.account_no: (row.opening, row.debit, row.credit, row.closing, row.entry_count)
        for row in BalanceSheetRow.objects.filter(entity=entity, accounting_date=day).select_related("account")
    }


def vouchers(entity, day: date) -> list[tuple]:
    """The day's voucher lines: (voucher number, subject, direction, business type, amount, entry count,
    first serial, last serial), by voucher number then line."""
    return list(
        VoucherLine.objects.filter(voucher__entity=entity, voucher__accounting_date=day)
        .order_by("voucher__number", "line_no")
        .values_list(
            "voucher__number",
            "subject_code",
            "direction",
            "business_type",
            "amount",
            "entry_count",
            "first_entry_serial",
            "last_entry_serial",
        )
    )


def checks(entity, day: date) -> dict[str, CheckResult]:
    return {c.check_name: c for c in CheckResult.objects.filter(entity=entity, accounting_date=day)}


def failed_checks(entity, day: date) -> set[str]:
    return {name for name, c in checks(entity, day).items() if not c.passed}


def serials(*postings, account=None) -> list[int]:
    """Entry serial numbers of some postings (on one account)."""
    qs = Entry.objects.filter(posting__in=postings)
    if account is not None:
        qs = qs.filter(account=account)
    return sorted(qs.values_list("serial_no", flat=True))


def report_rows(entity, day: date) -> tuple:
    """Everything the end of day wrote for the day, without ids and timestamps."""
    return (
        sorted(
            BalanceSheetRow.objects.filter(entity=entity, accounting_date=day).values_list(
                "account_id",
                "account_type_code",
                "subject_code",
                "category",
                "currency",
                "opening",
                "debit",
                "credit",
                "closing",
                "entry_count",
            )
        ),
        sorted(
            CheckResult.objects.filter(entity=entity, accounting_date=day).values_list(
                "check_name", "passed", "checked_rows", "summary"
            )
        ),
        [c.details for c in CheckResult.objects.filter(entity=entity, accounting_date=day).order_by("check_name")],
        vouchers(entity, day),
    )


def forge(sql: str, params=None) -> None:
    """Write accounts or holds behind every trigger's back, as only a
    superuser can (session_replication_role = replica; the runtime role's
    writes are refused at COMMIT: docs/operations.md), inside the test's
    transaction; the triggers are on again after the statement. What the
    test wrote before is checked first, as its own COMMIT would have: the
    forgery comes after."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET LOCAL session_replication_role = origin")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def tamper(sql: str, params=None) -> None:
    """Write to postings_entry behind the ledger's back, as an intruder with
    database access would: the append-only and balance triggers switched off
    for the statement (inside the test's transaction), then on again."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire what is pending: ALTER TABLE needs none
        cursor.execute("ALTER TABLE postings_entry DISABLE TRIGGER ALL")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("ALTER TABLE postings_entry ENABLE TRIGGER ALL")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
