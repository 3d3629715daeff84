"""A worked month, closed day by day as the accountant would close it by hand.

Books of MAIN (CNY). Accounts: Alice's and Bob's wallets, a shop's wallet
(liability, subject 2241), Alice's credit line (asset, 1221, limit 1,000),
the channel clearing account (internal, 1002) and fee income (internal, 6051).

Nov 2   P1 recharge Alice 500       Dr channel 500      / Cr Alice 500
        P2 recharge Bob 300         Dr channel 300      / Cr Bob 300
        P3 transfer Alice->Bob 120  Dr Alice 120        / Cr Bob 120
Nov 3   P4 credit purchase 200      Dr Alice credit 200 / Cr shop 200
        P5 fee 2                    Dr Alice 2          / Cr fee income 2
        P6 transfer Bob->Alice 50   Dr Bob 50           / Cr Alice 50
        -- the day is cut (日切) --
        P8 recharge shop 80, posted after the cut: it belongs to Nov 4
Nov 4   P7 reversal of P6 (冲正)     Dr Alice 50         / Cr Bob 50        corrects Nov 3
        P9 credit repayment 100     Dr Alice 100        / Cr Alice credit 100
        P10 withdrawal 150, fee 1.50 Dr Bob 151.50      / Cr channel 150 / Cr fee income 1.50
Nov 5   nothing: every balance is carried forward

The balance sheet (余额表) worked by hand, opening / debit / credit / closing / entries
(a credit-normal account closes at opening + credit - debit, a debit-normal one at
opening + debit - credit):

            Nov 2                     Nov 3                        Nov 4
channel     0 / 800 / 0 / -800 / 2    -800 / 0 / 0 / -800 / 0      -800 / 80 / 150 / -730 / 2
Alice       0 / 120 / 500 / 380 / 2   380 / 2 / 50 / 428 / 2       428 / 150 / 0 / 278 / 2
Bob         0 / 0 / 420 / 420 / 2     420 / 50 / 0 / 370 / 1       370 / 151.50 / 50 / 268.50 / 2
shop        -                         0 / 0 / 200 / 200 / 1        200 / 0 / 80 / 280 / 1
credit      -                         0 / 200 / 0 / 200 / 1        200 / 0 / 100 / 100 / 1
fee         -                         0 / 0 / 2 / 2 / 1            2 / 0 / 1.50 / 3.50 / 1

Identity each day: Nov 2  0 = 800 + (-800); Nov 3  200 = 998 + (-798); Nov 4  100 = 826.50 + (-726.50).
"""

from datetime import date

import pytest

from accounts.models import Account
from postings.models import AccountingDay, DayStatus, Posting
from postings.services import posting_reverse
from postings.services.calendar import day_cut
from reports.eod.models import EOD_STEPS, EodRun, RunStatus
from reports.eod.services import eod_run

from .eod_books import D, checks, open_books_on, open_date, post, report_rows, serials, sheet, vouchers

pytestmark = pytest.mark.django_db

NOV2, NOV3, NOV4, NOV5 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5)


@pytest.fixture
def month(ledger):
    """The month's accounts and postings, the days closed by the end of day as they go."""
    open_books_on(ledger.entity, NOV2)
    a = dict(
        alice=ledger.cash(),
        bob=ledger.cash(),
        shop=ledger.cash(),
        channel=ledger.channel(),
        fee=ledger.internal("FEE_INCOME"),
    )
    a["credit"] = ledger.credit(a["alice"].member, limit="1000")
    p = {}
    p[1] = post("recharge", member_account=a["alice"], channel_account=a["channel"], amount="500")
    p[2] = post("recharge", member_account=a["bob"], channel_account=a["channel"], amount="300")
    p[3] = post("transfer", payer_account=a["alice"], payee_account=a["bob"], amount="120")
    runs = {NOV2: eod_run(entity=ledger.entity, accounting_date=NOV2, actor="accountant")}

    p[4] = post("credit_purchase", credit_account=a["credit"], merchant_account=a["shop"], amount="200")
    p[5] = post("fee", member_account=a["alice"], amount="2")
    p[6] = post("transfer", payer_account=a["bob"], payee_account=a["alice"], amount="50")
    day_cut(entity=ledger.entity, day=NOV3)  # the cut at midnight, before the end of day gets to it
    p[8] = post("recharge", member_account=a["shop"], channel_account=a["channel"], amount="80")
    runs[NOV3] = eod_run(entity=ledger.entity, accounting_date=NOV3, actor="accountant")

    p[7] = posting_reverse(serial_no=p[6].serial_no, request_no="eod-reverse-p6", posted_by="accountant")
    p[9] = post("credit_repayment", cash_account=a["alice"], credit_account=a["credit"], amount="100")
    p[10] = post("withdrawal", member_account=a["bob"], channel_account=a["channel"], amount="150", fee="1.50")
    runs[NOV4] = eod_run(entity=ledger.entity, accounting_date=NOV4, actor="accountant")
    runs[NOV5] = eod_run(entity=ledger.entity, accounting_date=NOV5, actor="accountant")
    no = {k: v.account_no for k, v in a.items()}
    return a, p, runs, no


def test_every_day_closes_with_all_checks_passed(month, ledger):
    _, _, runs, _ = month
    for day, run in runs.items():
        assert run.status == RunStatus.DONE, (day, [(s.name, s.status, s.message) for s in run.steps.all()])
        assert [(s.name, s.status) for s in run.steps.order_by("position")] == [
            (name, RunStatus.DONE) for name in EOD_STEPS
        ]
        assert AccountingDay.objects.get(entity=ledger.entity, date=day).status == DayStatus.CLOSED
        results = checks(ledger.entity, day)
        assert set(results) == {
            "account_balance",
            "entry_chain",
            "last_entry",
            "debits_credits",
            "identity",
            "subject_totals",
            "live_balance",
            "frozen_holds",
            "hold_events",
            "escrow_orders",
        }
        assert [(n, c.summary) for n, c in results.items() if not c.passed] == []
    assert open_date(ledger.entity) == date(2026, 11, 6)


def test_the_posting_after_the_cut_and_the_reversal_land_on_nov_4(month):
    _, p, _, _ = month
    assert p[6].accounting_date == NOV3
    assert p[8].accounting_date == NOV4  # posted after Nov 3 was cut
    reversal = Posting.objects.get(pk=p[7].pk)
    assert (reversal.accounting_date, reversal.corrects_date, reversal.reverses_id) == (NOV4, NOV3, p[6].pk)


def test_balance_sheets_equal_the_figures_worked_by_hand(month, ledger):
    _, _, _, no = month
    assert sheet(ledger.entity, NOV2) == {
        no["channel"]: (D("0"), D("800"), D("0"), D("-800"), 2),
        no["alice"]: (D("0"), D("120"), D("500"), D("380"), 2),
        no["bob"]: (D("0"), D("0"), D("420"), D("420"), 2),
    }
    assert sheet(ledger.entity, NOV3) == {
        no["channel"]: (D("-800"), D("0"), D("0"), D("-800"), 0),  # carried forward
        no["alice"]: (D("380"), D("2"), D("50"), D("428"), 2),
        no["bob"]: (D("420"), D("50"), D("0"), D("370"), 1),
        no["shop"]: (D("0"), D("0"), D("200"), D("200"), 1),  # P8 belongs to Nov 4
        no["credit"]: (D("0"), D("200"), D("0"), D("200"), 1),
        no["fee"]: (D("0"), D("0"), D("2"), D("2"), 1),
    }
    nov4 = {
        no["channel"]: (D("-800"), D("80"), D("150"), D("-730"), 2),
        no["alice"]: (D("428"), D("150"), D("0"), D("278"), 2),
        no["bob"]: (D("370"), D("151.50"), D("50"), D("268.50"), 2),
        no["shop"]: (D("200"), D("0"), D("80"), D("280"), 1),
        no["credit"]: (D("200"), D("0"), D("100"), D("100"), 1),
        no["fee"]: (D("2"), D("0"), D("1.50"), D("3.50"), 1),
    }
    assert sheet(ledger.entity, NOV4) == nov4
    # Nov 5 had no entries: every balance carried forward, nothing turned over.
    assert sheet(ledger.entity, NOV5) == {
        account_no: (closing, D("0"), D("0"), closing, 0) for account_no, (_, _, _, closing, _) in nov4.items()
    }
    # The last closing is what the accounts hold.
    assert {a.account_no: a.balance for a in Account.objects.filter(account_no__in=nov4)} == {
        account_no: closing for account_no, (_, _, _, closing, _) in nov4.items()
    }


def test_the_identity_holds_on_each_days_sheet(month, ledger):
    expected = {
        NOV2: "CNY 0.0000 = 800.0000 + -800.0000",
        NOV3: "CNY 200.0000 = 998.0000 + -798.0000",
        NOV4: "CNY 100.0000 = 826.5000 + -726.5000",
    }
    for day, summary in expected.items():
        assert checks(ledger.entity, day)["identity"].summary == summary


def test_vouchers_equal_the_figures_worked_by_hand(month, ledger):
    a, p, _, _ = month

    def span(*postings, account):
        s = serials(*postings, account=account)
        return len(s), s[0], s[-1]

    # Numbered by business type, debit before credit, then subject.
    assert vouchers(ledger.entity, NOV2) == [
        ("V20261102-0001", "1002", "D", "recharge", D("800"), *span(p[1], p[2], account=a["channel"])),
        (
            "V20261102-0002",
            "2241",
            "C",
            "recharge",
            D("800"),
            2,
            serials(p[1], account=a["alice"])[0],
            serials(p[2], account=a["bob"])[0],
        ),
        ("V20261102-0003", "2241", "D", "transfer", D("120"), *span(p[3], account=a["alice"])),
        ("V20261102-0004", "2241", "C", "transfer", D("120"), *span(p[3], account=a["bob"])),
    ]
    assert vouchers(ledger.entity, NOV3) == [
        ("V20261103-0001", "1221", "D", "credit_purchase", D("200"), *span(p[4], account=a["credit"])),
        ("V20261103-0002", "2241", "C", "credit_purchase", D("200"), *span(p[4], account=a["shop"])),
        ("V20261103-0003", "2241", "D", "fee", D("2"), *span(p[5], account=a["alice"])),
        ("V20261103-0004", "6051", "C", "fee", D("2"), *span(p[5], account=a["fee"])),
        ("V20261103-0005", "2241", "D", "transfer", D("50"), *span(p[6], account=a["bob"])),
        ("V20261103-0006", "2241", "C", "transfer", D("50"), *span(p[6], account=a["alice"])),
    ]
    assert vouchers(ledger.entity, NOV4) == [
        ("V20261104-0001", "2241", "D", "credit_repayment", D("100"), *span(p[9], account=a["alice"])),
        ("V20261104-0002", "1221", "C", "credit_repayment", D("100"), *span(p[9], account=a["credit"])),
        ("V20261104-0003", "1002", "D", "recharge", D("80"), *span(p[8], account=a["channel"])),
        ("V20261104-0004", "2241", "C", "recharge", D("80"), *span(p[8], account=a["shop"])),
        ("V20261104-0005", "2241", "D", "reversal", D("50"), *span(p[7], account=a["alice"])),
        ("V20261104-0006", "2241", "C", "reversal", D("50"), *span(p[7], account=a["bob"])),
        ("V20261104-0007", "2241", "D", "withdrawal", D("151.50"), *span(p[10], account=a["bob"])),
        ("V20261104-0008", "1002", "C", "withdrawal", D("150"), *span(p[10], account=a["channel"])),
        ("V20261104-0009", "6051", "C", "withdrawal", D("1.50"), *span(p[10], account=a["fee"])),
    ]
    assert vouchers(ledger.entity, NOV5) == []


def test_each_days_vouchers_balance_and_cover_every_entry_once(month, ledger):
    for day in (NOV2, NOV3, NOV4):
        rows = vouchers(ledger.entity, day)
        debit = sum(r[4] for r in rows if r[2] == "D")
        credit = sum(r[4] for r in rows if r[2] == "C")
        assert debit == credit
        entries = serials(*Posting.objects.filter(accounting_date=day))
        assert sum(r[5] for r in rows) == len(entries)


def test_re_running_a_closed_day_changes_nothing(month, ledger):
    before = {day: report_rows(ledger.entity, day) for day in (NOV2, NOV3, NOV4, NOV5)}
    run = eod_run(entity=ledger.entity, accounting_date=NOV3, actor="auditor")
    assert run.status == RunStatus.DONE
    assert set(run.steps.values_list("attempts", flat=True)) == {2}
    for day in (NOV2, NOV3, NOV4, NOV5):
        assert report_rows(ledger.entity, day) == before[day], day
    assert EodRun.objects.filter(entity=ledger.entity).count() == 4
    assert open_date(ledger.entity) == date(2026, 11, 6)  # the re-run cut nothing new
