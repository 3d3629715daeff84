"""Balanced vouchers (issue 22, section 1), worked by hand.

The day: MAIN, 2 December 2026, CNY. Alice's and Bob's wallets (2241), the
channel clearing account (1002), fee income (6051), coupons (6601).

    P1 recharge Alice 500     Dr channel 500 / Cr Alice 500
    P2 recharge Bob 300       Dr channel 300 / Cr Bob 300
    P3 transfer Alice->Bob 120 Dr Alice 120  / Cr Bob 120
    P4 fee Alice 2            Dr Alice 2     / Cr fee income 2
    P5 coupon Bob 10          Dr coupons 10  / Cr Bob 10

By default one voucher per business type and day, numbered through the
month in the order of the business types, each balanced:

    记-1 coupon    6601 Dr 10         2241 Cr 10
    记-2 fee       2241 Dr 2          6051 Cr 2
    记-3 recharge  1002 Dr 800 (2)    2241 Cr 800 (2)
    记-4 transfer  2241 Dr 120        2241 Cr 120

Per subject: 1002 Dr 800; 2241 Dr 122, Cr 930; 6051 Cr 2; 6601 Dr 10: the
day's turnover on the balance sheet.

The correction: coupons were mapped to the wrong subject; finance moves the
COUPON type to 6602 and the vouchers step runs again. The exported 记-1 stays
as it was; 记-5 reverses it in red ink (6601 Dr -10, 2241 Cr -10) and 记-6
books it again (6602 Dr 10, 2241 Cr 10). Over the three the GL's turnover
is 6601 0, 6602 Dr 10, 2241 Cr 10: the corrected day.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import AccountType
from postings.models import Entry
from reports.channel.models import Channel
from reports.eod.models import EodRun, EodStep, RunStatus
from reports.eod.services import eod_run
from reports.gl_recon.selectors import ledger_subject_totals
from reports.vouchers import build
from reports.vouchers.build import vouchers_build
from reports.vouchers.models import (
    GroupBy,
    SubjectDimensions,
    Voucher,
    VoucherGrouping,
    VoucherKind,
    VoucherLine,
    VoucherStatus,
)
from reports.vouchers.selectors import entries_summary, line_agrees, line_entries, voucher_turnover
from reports.vouchers.services import vouchers_export

from .eod_books import D, open_books_on, post
from .reporting import ensure_report_roles, staff_user

pytestmark = pytest.mark.django_db

DEC2 = date(2026, 12, 2)


def lines(entity, day=DEC2) -> list[tuple]:
    """(number, word, kind, subject, direction, business type, amount, entry count) of the day's lines."""
    return list(
        VoucherLine.objects.filter(voucher__entity=entity, voucher__accounting_date=day)
        .order_by("voucher__number", "line_no")
        .values_list(
            "voucher__number",
            "voucher__word",
            "voucher__kind",
            "subject_code",
            "direction",
            "business_type",
            "amount",
            "entry_count",
        )
    )


def per_subject_from_entries(entity, day=DEC2) -> dict[tuple[str, str], dict]:
    """(subject, currency) -> debit and credit of the day's entries, by the chart as it is now."""
    out: dict = {}
    for e in Entry.objects.filter(account__entity=entity, accounting_date=day).select_related("account__account_type"):
        sums = out.setdefault((e.account.account_type.subject_code, e.currency), {"debit": D(0), "credit": D(0)})
        sums["debit" if e.direction == "D" else "credit"] += e.amount
    return out


def net(turnover: dict) -> dict:
    return {
        k: (v["debit"].normalize(), v["credit"].normalize()) for k, v in turnover.items() if v["debit"] or v["credit"]
    }


@pytest.fixture
def day(ledger):
    open_books_on(ledger.entity, DEC2)
    a = {
        "alice": ledger.cash(ledger.member("Alice Zhang")),
        "bob": ledger.cash(ledger.member("Bob Li")),
        "channel": ledger.channel(),
        "fee": ledger.internal("FEE_INCOME"),
        "coupon": ledger.internal("COUPON"),
    }
    p = {
        1: post("recharge", member_account=a["alice"], channel_account=a["channel"], amount="500"),
        2: post("recharge", member_account=a["bob"], channel_account=a["channel"], amount="300"),
        3: post("transfer", payer_account=a["alice"], payee_account=a["bob"], amount="120"),
        4: post("fee", member_account=a["alice"], amount="2"),
        5: post("coupon", member_account=a["bob"], amount="10"),
    }
    return a, p


def closed(ledger):
    run = eod_run(entity=ledger.entity, accounting_date=DEC2, actor="accountant")
    assert run.status == RunStatus.DONE, [(s.name, s.message) for s in run.steps.all()]
    return run


def test_the_days_vouchers_balance_and_add_up_to_its_entries_per_subject(day, ledger):
    closed(ledger)
    assert lines(ledger.entity) == [
        (1, "记", "blue", "6601", "D", "coupon", D("10"), 1),
        (1, "记", "blue", "2241", "C", "coupon", D("10"), 1),
        (2, "记", "blue", "2241", "D", "fee", D("2"), 1),
        (2, "记", "blue", "6051", "C", "fee", D("2"), 1),
        (3, "记", "blue", "1002", "D", "recharge", D("800"), 2),
        (3, "记", "blue", "2241", "C", "recharge", D("800"), 2),
        (4, "记", "blue", "2241", "D", "transfer", D("120"), 1),
        (4, "记", "blue", "2241", "C", "transfer", D("120"), 1),
    ]
    vouchers = Voucher.objects.filter(entity=ledger.entity, accounting_date=DEC2)
    assert {v.voucher_no for v in vouchers} == {f"MAIN-202612-记-{n:04d}" for n in (1, 2, 3, 4)}
    assert {v.status for v in vouchers} == {VoucherStatus.DRAFT}
    for voucher in vouchers:
        sides = {"D": D(0), "C": D(0)}
        for line in voucher.lines.all():
            sides[line.direction] += line.amount
        assert sides["D"] == sides["C"], voucher.voucher_no

    by_vouchers = net(voucher_turnover(entity=ledger.entity, accounting_date=DEC2))
    assert by_vouchers == {
        ("1002", "CNY"): (D("800"), D("0")),
        ("2241", "CNY"): (D("122"), D("930")),
        ("6051", "CNY"): (D("0"), D("2")),
        ("6601", "CNY"): (D("10"), D("0")),
    }
    sheet = ledger_subject_totals(entity=ledger.entity, accounting_date=DEC2)
    assert by_vouchers == {
        k: (v["debit"].normalize(), v["credit"].normalize()) for k, v in sheet.items() if v["debit"] or v["credit"]
    }
    assert sum(VoucherLine.objects.values_list("entry_count", flat=True)) == Entry.objects.count() == 10


def test_every_line_walks_down_to_the_entries_it_covers(day, ledger):
    a, p = day
    closed(ledger)
    recharge = Voucher.objects.get(number=3)
    channel_line, wallets_line = recharge.lines.order_by("line_no")
    assert list(line_entries(channel_line).values_list("account", flat=True)) == [a["channel"].pk] * 2
    assert set(line_entries(wallets_line).values_list("posting", flat=True)) == {p[1].pk, p[2].pk}
    for line in VoucherLine.objects.all():
        assert line_agrees(line, entries_summary(line_entries(line))), line


def test_grouping_per_business_type_and_auxiliary_dimensions(day, ledger):
    a, p = day
    VoucherGrouping.objects.create(business_type="recharge", group_by=GroupBy.POSTING, voucher_word="收")
    VoucherGrouping.objects.create(business_type="coupon", group_by=GroupBy.MERGED, voucher_word="转")
    VoucherGrouping.objects.create(business_type="fee", group_by=GroupBy.MERGED, voucher_word="转")
    SubjectDimensions.objects.create(subject_code="2241", member=True)
    SubjectDimensions.objects.create(subject_code="1002", channel=True, department="FIN01")
    bank = Channel.objects.create(code="unionpay", name="UnionPay", entity=ledger.entity)
    bank.clearing_accounts.add(a["channel"])
    closed(ledger)

    alice, bob = a["alice"].member.member_no, a["bob"].member.member_no
    got = [
        (
            v.number,
            v.word,
            v.group_key,
            [(ln.subject_code, ln.direction, ln.amount, ln.dimensions) for ln in v.lines.all()],
        )
        for v in Voucher.objects.filter(accounting_date=DEC2).order_by("number")
    ]
    assert got == [
        (
            1,
            "转",
            "merged:转",
            [
                ("2241", "D", D("2"), {"member": alice}),
                ("6601", "D", D("10"), {}),
                ("2241", "C", D("10"), {"member": bob}),
                ("6051", "C", D("2"), {}),
            ],
        ),
        (
            2,
            "收",
            f"posting:{p[1].pk}",
            [
                ("1002", "D", D("500"), {"channel": "unionpay", "department": "FIN01"}),
                ("2241", "C", D("500"), {"member": alice}),
            ],
        ),
        (
            3,
            "收",
            f"posting:{p[2].pk}",
            [
                ("1002", "D", D("300"), {"channel": "unionpay", "department": "FIN01"}),
                ("2241", "C", D("300"), {"member": bob}),
            ],
        ),
        (
            4,
            "记",
            "type:transfer",
            [
                ("2241", "D", D("120"), {"member": alice}),
                ("2241", "C", D("120"), {"member": bob}),
            ],
        ),
    ]
    for line in VoucherLine.objects.all():
        assert line_agrees(line, entries_summary(line_entries(line))), line


def test_a_rebuild_after_export_gives_red_ink_and_new_vouchers_netting_to_the_corrected_day(day, ledger):
    ensure_report_roles()
    finance = staff_user("finance", "Finance staff")
    closed(ledger)
    export = vouchers_export(entity=ledger.entity, date_from=DEC2, date_to=DEC2, format="csv", user=finance)
    assert export.voucher_count == 4
    exported = {v.pk: lines_of(v) for v in Voucher.objects.all()}

    AccountType.objects.filter(code="COUPON").update(subject_code="6602")  # the correction of the chart
    run = eod_run(entity=ledger.entity, accounting_date=DEC2, actor="accountant", from_step="vouchers")
    assert run.status == RunStatus.DONE
    assert EodStep.objects.get(run=run, name="vouchers").message == (
        "6 vouchers, 1 new, 1 exported vouchers reversed in red ink"
    )

    # What was exported is as it was.
    assert {v.pk: lines_of(v) for v in Voucher.objects.filter(pk__in=exported)} == exported
    assert set(Voucher.objects.filter(pk__in=exported).values_list("status", flat=True)) == {"exported"}
    red, blue = Voucher.objects.filter(number__in=(5, 6)).order_by("number")
    coupon = Voucher.objects.get(number=1)
    assert (red.kind, red.reverses, red.status) == (VoucherKind.RED, coupon, VoucherStatus.DRAFT)
    assert lines_of(red) == [("6601", "D", D("-10"), 1), ("2241", "C", D("-10"), 1)]
    assert (blue.kind, blue.group_key, blue.status) == (VoucherKind.BLUE, "type:coupon", VoucherStatus.DRAFT)
    assert lines_of(blue) == [("6602", "D", D("10"), 1), ("2241", "C", D("10"), 1)]

    # All vouchers of the day together are the corrected day, subject by subject.
    assert net(voucher_turnover(entity=ledger.entity, accounting_date=DEC2)) == net(
        per_subject_from_entries(ledger.entity)
    )
    assert net(voucher_turnover(entity=ledger.entity, accounting_date=DEC2))[("6602", "CNY")] == (D("10"), D("0"))
    assert ("6601", "CNY") not in net(voucher_turnover(entity=ledger.entity, accounting_date=DEC2))

    # Run again: nothing more to correct.
    before = sorted(Voucher.objects.values_list("pk", "number", "status"))
    assert vouchers_build(entity=ledger.entity, accounting_date=DEC2).message == "6 vouchers"
    assert sorted(Voucher.objects.values_list("pk", "number", "status")) == before


def lines_of(voucher) -> list[tuple]:
    return [(ln.subject_code, ln.direction, ln.amount, ln.entry_count) for ln in voucher.lines.order_by("line_no")]


def test_a_draft_day_is_rebuilt_in_place(day, ledger):
    closed(ledger)
    before = {v.number: v.pk for v in Voucher.objects.all()}
    AccountType.objects.filter(code="COUPON").update(subject_code="6602")
    result = vouchers_build(entity=ledger.entity, accounting_date=DEC2)
    assert (result.vouchers, result.created, result.rebuilt, result.reversed) == (4, 0, 1, 0)
    assert {v.number: v.pk for v in Voucher.objects.all()} == before  # same vouchers, same numbers
    assert lines_of(Voucher.objects.get(number=1)) == [("6602", "D", D("10"), 1), ("2241", "C", D("10"), 1)]
    assert not Voucher.objects.filter(kind=VoucherKind.RED).exists()


def test_the_nightly_generation_is_idempotent_under_a_retry(day, ledger, monkeypatch):
    """The vouchers step fails once after writing its vouchers (the worker
    dies, the database drops the connection): its transaction is rolled
    back, numbers included; the retry builds the day once, numbered from 1;
    a further run (a duplicate delivery) changes nothing."""
    real = build._Numbers.save
    calls = []

    def dies_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("server closed the connection unexpectedly")
        real(self)

    monkeypatch.setattr(build._Numbers, "save", dies_once)
    run = eod_run(entity=ledger.entity, accounting_date=DEC2, actor="beat")
    assert run.status == RunStatus.FAILED
    assert Voucher.objects.count() == 0 and VoucherLine.objects.count() == 0

    run = eod_run(entity=ledger.entity, accounting_date=DEC2, actor="beat")
    assert run.status == RunStatus.DONE
    first = sorted(Voucher.objects.values_list("pk", "number", "summary"))
    assert [n for _, n, _ in first] == [1, 2, 3, 4]
    rows = lines(ledger.entity)

    again = eod_run(entity=ledger.entity, accounting_date=DEC2, actor="beat")  # delivered twice
    assert again.status == RunStatus.DONE
    assert sorted(Voucher.objects.values_list("pk", "number", "summary")) == first
    assert lines(ledger.entity) == rows
    assert EodRun.objects.count() == 1


def test_the_gl_reconciliation_runs_against_the_vouchers_sent(day, ledger):
    """The GL imported the day's four vouchers; then the coupon subject was
    corrected. The GL's trial balance still shows coupons on 6601: the
    reconciliation names the difference and says the GL has every voucher
    exported, the correction (red ink and the new voucher) being drafts.
    Once they are exported and imported, the GL agrees with the ledger."""
    from reports.gl_recon.selectors import gl_differences
    from reports.gl_recon.services import gl_import

    from .test_gl import csv_bytes

    ensure_report_roles()
    finance = staff_user("finance", "Finance staff")
    # 6601 stays a subject of the chart (another type maps to it), so the GL may report it.
    AccountType.objects.create(code="PROMOTION", name="Promotion", category="internal", subject_code="6601")
    closed(ledger)
    vouchers_export(entity=ledger.entity, date_from=DEC2, date_to=DEC2, format="kingdee", user=finance)
    AccountType.objects.filter(code="COUPON").update(subject_code="6602")
    eod_run(entity=ledger.entity, accounting_date=DEC2, actor="accountant")  # the whole day again, sheet included

    def gl_file(turnover: dict) -> bytes:
        # The first day: opening 0; every subject here is credit-normal (liabilities and internal accounts).
        rows = [
            [subject, currency, "0", f"{debit:f}", f"{credit:f}", f"{credit - debit:f}"]
            for (subject, currency), (debit, credit) in sorted(turnover.items())
        ]
        return csv_bytes(rows)

    sent = net(voucher_turnover(entity=ledger.entity, accounting_date=DEC2, exported_only=True))
    gl = gl_import(entity=ledger.entity, accounting_date=DEC2, file_name="tb1.csv", content=gl_file(sent), user=finance)
    found = {(d.subject_code, d.voucher_finding) for d in gl_differences(gl)}
    assert found == {("6601", "not_exported"), ("6602", "not_exported")}

    vouchers_export(entity=ledger.entity, date_from=DEC2, date_to=DEC2, format="kingdee", user=finance)
    sent = net(voucher_turnover(entity=ledger.entity, accounting_date=DEC2, exported_only=True))
    gl = gl_import(entity=ledger.entity, accounting_date=DEC2, file_name="tb2.csv", content=gl_file(sent), user=finance)
    assert gl_differences(gl) == []
