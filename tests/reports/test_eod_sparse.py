"""The end of day stores rows for the day's movers only; the sheet users
read (BalanceSheetRow) still lists every funded account, carried as of the
day, and the checks still see a drift on an account that did not move."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection
from django.db.models import Count, Sum

from reports.eod.models import BalanceSheetRow, DailyBalance, DailyTotal
from reports.eod.services import eod_run

from .eod_books import checks, failed_checks, forge, open_books_on, post, sheet

pytestmark = pytest.mark.django_db

NOV2, NOV3 = date(2026, 11, 2), date(2026, 11, 3)


@pytest.fixture
def two_days(ledger):
    open_books_on(ledger.entity, NOV2)
    alice, bob, carol, erin, channel = ledger.cash(), ledger.cash(), ledger.cash(), ledger.cash(), ledger.channel()
    post("recharge", member_account=alice, channel_account=channel, amount="500")
    post("recharge", member_account=bob, channel_account=channel, amount="300")
    post("recharge", member_account=erin, channel_account=channel, amount="50")
    post("transfer", payer_account=erin, payee_account=alice, amount="50")  # erin closes Nov 2 at zero
    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    post("transfer", payer_account=alice, payee_account=carol, amount="120")  # Nov 3: bob and the channel rest
    eod_run(entity=ledger.entity, accounting_date=NOV3, actor="ops")
    return ledger.entity, alice, bob, carol, channel


def test_only_the_movers_are_stored_and_the_others_are_carried(two_days):
    entity, alice, bob, carol, channel = two_days
    stored = set(DailyBalance.objects.filter(accounting_date=NOV3).values_list("account__account_no", flat=True))
    assert stored == {alice.account_no, carol.account_no}
    nov3 = sheet(entity, NOV3)
    assert nov3[bob.account_no] == (D("300"), D("0"), D("0"), D("300"), 0)
    assert nov3[channel.account_no] == (D("-850"), D("0"), D("0"), D("-850"), 0)
    assert nov3[alice.account_no] == (D("550"), D("120"), D("0"), D("430"), 1)
    assert nov3[carol.account_no] == (D("0"), D("0"), D("120"), D("120"), 1)
    assert len(nov3) == 4  # erin closed Nov 2 at zero and rests: no row, as before
    assert len(sheet(entity, NOV2)) == 4  # alice, bob, erin, the channel
    assert failed_checks(entity, NOV3) == set()
    assert checks(entity, NOV3)["account_balance"].checked_rows == 4  # the sheet's rows, carried included


def test_the_totals_are_the_sums_of_the_sheet(two_days):
    entity, *_ = two_days
    for day in (NOV2, NOV3):
        summed = {
            (r["subject_code"], r["category"], r["currency"]): (r["closing"], r["debit"], r["credit"], r["n"])
            for r in BalanceSheetRow.objects.filter(entity=entity, accounting_date=day)
            .values("subject_code", "category", "currency")
            .annotate(closing=Sum("closing"), debit=Sum("debit"), credit=Sum("credit"), n=Count("id"))
        }
        stored = {
            (t.subject_code, t.category, t.currency): (t.closing, t.debit, t.credit, t.rows)
            for t in DailyTotal.objects.filter(entity=entity, accounting_date=day)
        }
        assert stored == summed


def test_a_drift_on_an_account_that_did_not_move_is_caught(two_days):
    entity, alice, bob, carol, channel = two_days
    # bob rests on Nov 3; his balance no longer follows his entries
    forge("UPDATE accounts_account SET balance = 301 WHERE id = %s", [bob.pk])
    eod_run(entity=entity, accounting_date=NOV3, actor="ops")
    assert failed_checks(entity, NOV3) == {"live_balance"}
    (item,) = checks(entity, NOV3)["live_balance"].details
    assert (item["account_no"], item["problem"]) == (
        bob.account_no,
        "balance 301.0000 != closing 300.0000 +0.0000 posted since",
    )


def test_two_drifts_that_cancel_in_a_plain_sum_are_caught(two_days, ledger):
    entity, alice, bob, carol, channel = two_days
    dave = ledger.cash()  # never moved: no row at all
    # -1 and +1 on two resting wallets: the plain sum does not change
    forge("UPDATE accounts_account SET balance = balance - 1 WHERE id = %s", [bob.pk])
    forge("UPDATE accounts_account SET balance = balance + 1 WHERE id = %s", [dave.pk])
    eod_run(entity=entity, accounting_date=NOV3, actor="ops")
    assert failed_checks(entity, NOV3) == {"live_balance"}
    live = checks(entity, NOV3)["live_balance"]
    assert {d["account_no"] for d in live.details} == {bob.account_no, dave.account_no}
    assert live.summary == "2 accounts' balances do not follow from the day's closing"
