"""A red-ink correction (红冲 + 蓝字) in the GL's layout, worked by hand.

The day of tests/reports/test_vouchers.py (2 December) is closed and its
vouchers exported to Kingdee. On 3 December finance finds that P2, Bob's
recharge of 300.00, was 250.00: a correction (Dr channel 250 / Cr Bob 250)
is proposed and approved. The 3rd's vouchers:

    红字 recharge P<red>   1002 Dr -300      2241 Cr -300     (kind red)
    蓝字 recharge P<blue>  1002 Dr 250       2241 Cr 250

(P1 could not be corrected so: Alice has spent 122.00 of its 500.00, and the
red posting taking 500.00 back is refused with insufficient_funds.)

so over both exported files the GL's turnover per subject is that of a
2 December on which only the corrected recharge was booked:

    1002 Dr 750; 2241 Dr 122, Cr 880; 6051 Cr 2; 6601 Dr 10.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from io import BytesIO

import pytest
from openpyxl import load_workbook

from postings.models import Correction
from postings.services import correction_approve, correction_propose
from reports.eod.models import RunStatus
from reports.eod.services import eod_run
from reports.gl_recon.selectors import gl_differences, ledger_subject_totals
from reports.gl_recon.services import gl_import
from reports.vouchers.build import vouchers_build
from reports.vouchers.models import Voucher, VoucherKind
from reports.vouchers.selectors import (
    entries_summary,
    line_agrees,
    line_entries,
    voucher_lines_of_entry,
    voucher_turnover,
)
from reports.vouchers.services import vouchers_export
from tests.postings.test_corrections import ensure_correction_roles

from .eod_books import D, failed_checks, open_date
from .reporting import staff_user
from .test_gl import csv_bytes
from .test_vouchers import DEC2, closed, day, net  # noqa: F401

pytestmark = pytest.mark.django_db
DEC3 = date(2026, 12, 3)


def kingdee_turnover(export) -> dict[str, tuple]:
    """subject -> (debit, credit) summed over the rows of a Kingdee file, as the GL would import them."""
    ws = load_workbook(BytesIO(bytes(export.content)))["GL_VOUCHER"]
    rows = list(ws.iter_rows(values_only=True))
    col = {name: i for i, name in enumerate(rows[0])}
    out: dict[str, list] = defaultdict(lambda: [D(0), D(0)])
    for r in rows[2:]:
        out[r[col["FACCOUNTID"]]][0] += D(r[col["FDEBIT"]])
        out[r[col["FACCOUNTID"]]][1] += D(r[col["FCREDIT"]])
    return dict(out)


def added(*turnovers) -> dict[str, tuple]:
    out: dict[str, list] = defaultdict(lambda: [D(0), D(0)])
    for t in turnovers:
        for subject, (debit, credit) in t.items():
            out[subject][0] += debit
            out[subject][1] += credit
    return {s: (d.normalize(), c.normalize()) for s, (d, c) in out.items() if d or c}


def test_a_red_ink_correction_nets_the_gl_turnover_to_the_corrected_figures(day, ledger):  # noqa: F811
    accounts, postings = day
    ensure_correction_roles()
    maker, checker = staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff")
    closed(ledger)
    first = vouchers_export(entity=ledger.entity, date_from=DEC2, date_to=DEC2, format="kingdee", user=maker)
    assert open_date(ledger.entity) == DEC3

    proposal = correction_propose(
        serial_no=postings[2].serial_no,
        legs=[(accounts["channel"].account_no, "D", "250.00"), (accounts["bob"].account_no, "C", "250.00")],
        reason="the bank's slip says 250.00",
        request_no="c-1",
        acting_user=maker,
    )
    booked = correction_approve(correction_id=proposal.pk, acting_user=checker)
    red, blue = booked.red_posting, booked.blue_posting
    assert (red.accounting_date, blue.accounting_date) == (DEC3, DEC3)
    assert (red.corrects_date, blue.corrects_date) == (DEC2, DEC2)

    run = eod_run(entity=ledger.entity, accounting_date=DEC3, actor="accountant")
    assert run.status == RunStatus.DONE, [(s.name, s.message) for s in run.steps.all()]
    assert failed_checks(ledger.entity, DEC3) == set()
    red_v = Voucher.objects.get(accounting_date=DEC3, group_key=f"red:{red.serial_no}")
    blue_v = Voucher.objects.get(accounting_date=DEC3, group_key=f"posting:{blue.serial_no}")
    assert (red_v.kind, red_v.reverses) == (VoucherKind.RED, None)
    assert blue_v.kind == VoucherKind.BLUE
    assert f"P{postings[2].serial_no}" in red_v.summary and "红字" in red_v.summary
    assert f"P{postings[2].serial_no}" in blue_v.summary and "蓝字" in blue_v.summary

    def lines(v):
        return [(ln.subject_code, ln.direction, ln.amount, ln.business_type) for ln in v.lines.order_by("line_no")]

    # Red ink: the original's subjects and directions, negative; the original's business type.
    assert lines(red_v) == [("1002", "D", D("-300"), "recharge"), ("2241", "C", D("-300"), "recharge")]
    assert lines(blue_v) == [("1002", "D", D("250"), "recharge"), ("2241", "C", D("250"), "recharge")]
    # Each line still walks down to its entries, and each entry names its line.
    for v in (red_v, blue_v):
        for ln in v.lines.all():
            assert line_agrees(ln, entries_summary(line_entries(ln))), ln
    for entry in red.entries.all():
        assert [ln.voucher_id for ln in voucher_lines_of_entry(entry)] == [red_v.pk]

    second = vouchers_export(entity=ledger.entity, date_from=DEC3, date_to=DEC3, format="kingdee", user=maker)
    gl = added(kingdee_turnover(first), kingdee_turnover(second))
    # Red + blue on the 3rd, per subject: the corrected figure less the original's.
    assert added(kingdee_turnover(second)) == {"1002": (D("-50"), D(0)), "2241": (D(0), D("-50"))}
    # What the GL holds over both days: the day as if only the corrected posting had been booked.
    assert gl == {
        "1002": (D("750"), D(0)),
        "2241": (D("122"), D("880")),
        "6051": (D(0), D("2")),
        "6601": (D("10"), D(0)),
    }

    # The GL's trial balance of the 3rd, as it stands after importing both files, agrees with the ledger.
    ledger_sums = ledger_subject_totals(entity=ledger.entity, accounting_date=DEC3)
    sent = net(voucher_turnover(entity=ledger.entity, accounting_date=DEC3, exported_only=True))
    rows = []
    for (subject, currency), sums in sorted(ledger_sums.items()):
        debit, credit = sent.get((subject, currency), (D(0), D(0)))
        # Every subject here is credit-normal (liabilities and internal accounts).
        rows.append(
            [
                subject,
                currency,
                f"{sums['opening']:f}",
                f"{debit:f}",
                f"{credit:f}",
                f"{sums['opening'] + credit - debit:f}",
            ]
        )
    gl_tb = gl_import(
        entity=ledger.entity, accounting_date=DEC3, file_name="tb3.csv", content=csv_bytes(rows), user=maker
    )
    assert gl_differences(gl_tb) == []
    assert (ledger_sums[("1002", "CNY")]["debit"], ledger_sums[("1002", "CNY")]["credit"]) == (D("-50"), D(0))

    # Built again: nothing changes (a red voucher is live, not a new key each time).
    before = sorted(Voucher.objects.values_list("pk", "number", "status"))
    vouchers_build(entity=ledger.entity, accounting_date=DEC3)
    assert sorted(Voucher.objects.values_list("pk", "number", "status")) == before
    assert Correction.objects.get().status == "booked"
