"""The demo ledger (two entities, holds, reversals, refusals, every business
type) closed day by day, checked against a balance sheet and vouchers
recomputed independently here: a plain walk over every entry in Python,
the way an auditor would re-add the books, sharing no code with the SQL."""

from collections import defaultdict
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import Account, Entity
from postings.models import AccountingDay, DayStatus, Entry
from reports.eod.models import BalanceSheetRow, CheckResult, EodRun, RunStatus
from reports.vouchers.models import Voucher

ZERO = Decimal("0")


def recomputed_sheets(entity) -> dict:
    """{day: {account_id: (opening, debit, credit, closing, count)}} for every day with a finished run."""
    accounts = {a.id: a for a in Account.objects.filter(entity=entity).select_related("account_type")}
    by_day = defaultdict(list)
    for e in Entry.objects.filter(account__entity=entity).order_by("accounting_date", "account_id", "account_seq"):
        by_day[e.accounting_date].append(e)
    days = sorted(EodRun.objects.filter(entity=entity, status=RunStatus.DONE).values_list("accounting_date", flat=True))
    balance = defaultdict(lambda: ZERO)
    sheets = {}
    for day in days:
        debit, credit, count = defaultdict(lambda: ZERO), defaultdict(lambda: ZERO), defaultdict(int)
        opening = dict(balance)
        for e in by_day.get(day, []):
            (debit if e.direction == "D" else credit)[e.account_id] += e.amount
            count[e.account_id] += 1
            normal = "D" if accounts[e.account_id].category == "asset" else "C"
            balance[e.account_id] += e.amount if e.direction == normal else -e.amount
        sheets[day] = {
            account_id: (
                opening.get(account_id, ZERO),
                debit[account_id],
                credit[account_id],
                balance[account_id],
                count[account_id],
            )
            for account_id in balance
            if count[account_id] or opening.get(account_id, ZERO)
        }
    return sheets


def recomputed_vouchers(entity, day) -> list[tuple]:
    """A voucher per business type and currency (the default grouping), in
    that order; its lines debit before credit, then by subject."""
    lines = {}
    for e in Entry.objects.filter(account__entity=entity, accounting_date=day).select_related("account__account_type"):
        key = (e.business_type, e.currency, e.direction, e.account.account_type.subject_code)
        amount, count, first, last = lines.get(key, (ZERO, 0, e.serial_no, e.serial_no))
        lines[key] = (amount + e.amount, count + 1, min(first, e.serial_no), max(last, e.serial_no))
    vouchers: dict[tuple, list] = {}
    for (business_type, currency, direction, subject), figures in sorted(
        lines.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "D", kv[0][3])
    ):
        vouchers.setdefault((business_type, currency), []).append((subject, direction, business_type, *figures))
    return [(f"type:{bt}", currency, got) for (bt, currency), got in vouchers.items()]


def built_vouchers(entity, day) -> list[tuple]:
    return [
        (
            v.group_key,
            v.currency,
            [
                (
                    ln.subject_code,
                    ln.direction,
                    ln.business_type,
                    ln.amount,
                    ln.entry_count,
                    ln.first_entry_serial,
                    ln.last_entry_serial,
                )
                for ln in v.lines.order_by("line_no")
            ],
        )
        for v in Voucher.objects.filter(entity=entity, accounting_date=day).order_by("number")
    ]


@pytest.mark.django_db
def test_the_demo_month_closes_and_agrees_with_an_independent_recomputation():
    call_command("seed_demo", members=30, days=6, seed=7, stdout=StringIO())
    out = StringIO()
    call_command("eod", catch_up=True, stdout=out)

    for entity in Entity.objects.all():
        runs = EodRun.objects.filter(entity=entity)
        assert runs.count() == 5, out.getvalue()  # six days of history; the last one (today) stays open
        assert set(runs.values_list("status", flat=True)) == {RunStatus.DONE}
        assert set(
            AccountingDay.objects.filter(entity=entity, date__in=runs.values("accounting_date")).values_list(
                "status", flat=True
            )
        ) == {DayStatus.CLOSED}
        failed = list(
            CheckResult.objects.filter(entity=entity, passed=False).values_list(
                "accounting_date", "check_name", "summary"
            )
        )
        assert failed == []

        for day, expected in recomputed_sheets(entity).items():
            got = {
                r.account_id: (r.opening, r.debit, r.credit, r.closing, r.entry_count)
                for r in BalanceSheetRow.objects.filter(entity=entity, accounting_date=day)
            }
            assert got == expected, (entity.code, day)
            got_vouchers = built_vouchers(entity, day)
            assert got_vouchers == recomputed_vouchers(entity, day), (entity.code, day)
