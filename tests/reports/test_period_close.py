"""The period close (issue 22, section 2), a month and a year worked by hand.

MAIN, CNY. The books open on 30 November 2026. Accounts: Alice's and Bob's
wallets (2241), the channel clearing account (1002), fee income (6051),
coupons (6601), current-year profit (4103), retained earnings (4104).

Nov 30  recharge Alice 500     Dr channel 500 / Cr Alice 500
        fee Alice 2            Dr Alice 2     / Cr fee income 2
        coupon Bob 10          Dr coupons 10  / Cr Bob 10
November's close (损益结转), booked on Dec 1, dated Nov 30 by its voucher:
        Dr fee income 2 / Cr coupons 10 / Dr current-year profit 8   (a loss of 8)
Dec 1   fee Alice 5            Dr Alice 5     / Cr fee income 5
December's close: Dr fee income 5 / Cr current-year profit 5
The year's close (年结): current-year profit is a debit of 3 (a loss):
        Dr retained earnings 3 / Cr current-year profit 3

Trial balances (debit-positive: opening / debit / credit / closing):

            November                 December                 2026
    1002    0 / 500 / 0 / 500        500 / 0 / 0 / 500        0 / 500 / 0 / 500
    2241    0 / 2 / 510 / -508       -508 / 5 / 0 / -503      0 / 7 / 510 / -503
    4103    0 / 8 / 0 / 8            8 / 0 / 8 / 0            0 / 8 / 8 / 0
    4104    -                        0 / 3 / 0 / 3            0 / 3 / 0 / 3
    6051    0 / 2 / 2 / 0            0 / 5 / 5 / 0            0 / 7 / 7 / 0
    6601    0 / 10 / 10 / 0          -                        0 / 10 / 10 / 0
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse

from accounts.kernel.errors import NotAllowed
from postings.exceptions import CorrectionSamePerson
from postings.models import AccountingCalendar, Posting
from postings.services import correction_approve, correction_propose
from postings.services.calendar import day_close, day_cut
from reports.periods.exceptions import PeriodCloseRefused, PeriodCloseSelfApproval
from reports.periods.models import PeriodKind, PeriodStatus
from reports.periods.selectors import trial_balance, trial_totals, voucher_period_turnover
from reports.periods.services import period_close_approve, period_close_propose
from reports.vouchers.build import vouchers_build
from reports.vouchers.models import Voucher
from tests.postings.test_corrections import ensure_correction_roles

from .eod_books import D, open_books_on, open_date, post
from .reporting import ensure_report_roles, staff_user

pytestmark = pytest.mark.django_db

NOV30, DEC1, DEC31 = date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 31)


def close_days(entity, through: date) -> None:
    """Cut and close every open day up to ``through``, building each day's vouchers (the end of day's part
    the close depends on)."""
    while open_date(entity) <= through:
        day = open_date(entity)
        day_cut(entity=entity, day=day)
        vouchers_build(entity=entity, accounting_date=day)
        day_close(entity=entity, day=day)


def figures(entity, start, end) -> dict[str, tuple]:
    return {
        r.subject_code: (r.opening.normalize(), r.debit.normalize(), r.credit.normalize(), r.closing.normalize())
        for r in trial_balance(entity=entity, start=start, end=end)
    }


def fig(*values) -> tuple:
    return tuple(D(v).normalize() for v in values)


@pytest.fixture
def clerks(db):
    ensure_report_roles()
    return staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff")


@pytest.fixture
def november(ledger, clerks):
    entity = ledger.entity
    open_books_on(entity, NOV30)
    a = {
        "alice": ledger.cash(ledger.member("Alice Zhang")),
        "bob": ledger.cash(ledger.member("Bob Li")),
        "channel": ledger.channel(),
        "fee": ledger.internal("FEE_INCOME"),
        "coupon": ledger.internal("COUPON"),
        "profit": ledger.internal("CURRENT_YEAR_PROFIT"),
        "retained": ledger.internal("RETAINED_EARNINGS"),
    }
    post("recharge", member_account=a["alice"], channel_account=a["channel"], amount="500")
    post("fee", member_account=a["alice"], amount="2")
    post("coupon", member_account=a["bob"], amount="10")
    close_days(entity, NOV30)
    return a


def close(entity, kind, day, clerks):
    maker, checker = clerks
    period = period_close_propose(acting_user=maker, entity=entity, kind=kind, day=day)
    assert period.status == PeriodStatus.CLOSING
    return period_close_approve(acting_user=checker, period_id=period.pk)


def test_a_worked_month_and_year_end(ledger, november, clerks):
    entity, a = ledger.entity, november
    nov = close(entity, PeriodKind.MONTH, NOV30, clerks)
    assert nov.status == PeriodStatus.CLOSED
    assert AccountingCalendar.objects.get(entity=entity).closed_through == NOV30

    # The carry-forward leaves income and expense at zero, the loss on current-year profit.
    for name, balance in (("fee", 0), ("coupon", 0), ("profit", -8)):
        assert ledger.balance(a[name]) == D(balance), name  # internal accounts: credit-normal
    carry = Posting.objects.get(business_type="pl_carry_forward")
    assert (carry.accounting_date, carry.corrects_date) == (DEC1, NOV30)

    assert figures(entity, date(2026, 11, 1), NOV30) == {
        "1002": fig(0, 500, 0, 500),
        "2241": fig(0, 2, 510, -508),
        "4103": fig(0, 8, 0, 8),
        "6051": fig(0, 2, 2, 0),
        "6601": fig(0, 10, 10, 0),
    }

    post("fee", member_account=a["alice"], amount="5")
    close_days(entity, DEC31)
    close(entity, PeriodKind.MONTH, DEC31, clerks)
    assert ledger.balance(a["fee"]) == 0 and ledger.balance(a["profit"]) == D(-3)
    close(entity, PeriodKind.YEAR, DEC31, clerks)
    assert ledger.balance(a["profit"]) == 0 and ledger.balance(a["retained"]) == D(-3)

    assert figures(entity, date(2026, 12, 1), DEC31) == {
        "1002": fig(500, 0, 0, 500),
        "2241": fig(-508, 5, 0, -503),
        "4103": fig(8, 0, 8, 0),
        "4104": fig(0, 3, 0, 3),
        "6051": fig(0, 5, 5, 0),
    }
    year = figures(entity, date(2026, 1, 1), DEC31)
    assert year == {
        "1002": fig(0, 500, 0, 500),
        "2241": fig(0, 7, 510, -503),
        "4103": fig(0, 8, 8, 0),
        "4104": fig(0, 3, 0, 3),
        "6051": fig(0, 7, 7, 0),
        "6601": fig(0, 10, 10, 0),
    }
    totals = trial_totals(trial_balance(entity=entity, start=date(2026, 1, 1), end=DEC31))["CNY"]
    assert totals == {"opening": 0, "debit": D(535), "credit": D(535), "closing": 0}

    # The trial balance equals the sum of the vouchers, each period's.
    for start, end in ((date(2026, 11, 1), NOV30), (DEC1, DEC31), (date(2026, 1, 1), DEC31)):
        by_vouchers = voucher_period_turnover(entity=entity, start=start, end=end)
        by_trial = {
            (r.subject_code, r.currency): (r.debit, r.credit)
            for r in trial_balance(entity=entity, start=start, end=end)
            if r.debit or r.credit
        }
        assert by_vouchers == by_trial, (start, end)
    closing_vouchers = Voucher.objects.filter(group_key__startswith="close:").order_by("accounting_date", "number")
    assert [(v.accounting_date, v.summary.split(" P")[0]) for v in closing_vouchers] == [
        (NOV30, "损益结转 2026-11"),
        (DEC31, "损益结转 2026-12"),
        (DEC31, "年结 本年利润转未分配利润 2026"),
    ]


def test_closing_again_posts_nothing_more(ledger, november, clerks):
    period = close(ledger.entity, PeriodKind.MONTH, NOV30, clerks)
    again = period_close_approve(acting_user=clerks[1], period_id=period.pk)
    assert again.status == PeriodStatus.CLOSED
    assert Posting.objects.filter(business_type="pl_carry_forward").count() == 1
    assert Voucher.objects.filter(group_key__startswith="close:").count() == 1
    proposed = period_close_propose(acting_user=clerks[0], entity=ledger.entity, kind="month", day=NOV30)
    assert proposed.status == PeriodStatus.CLOSED


def test_the_proposer_cannot_approve_and_nothing_is_posted(ledger, november, clerks):
    maker, _ = clerks
    period = period_close_propose(acting_user=maker, entity=ledger.entity, kind="month", day=NOV30)
    with pytest.raises(PeriodCloseSelfApproval):
        period_close_approve(acting_user=maker, period_id=period.pk)
    period.refresh_from_db()
    assert period.status == PeriodStatus.CLOSING
    assert not Posting.objects.filter(business_type="pl_carry_forward").exists()


def test_a_month_not_ended_or_out_of_order_is_refused(ledger, november, clerks):
    maker, _ = clerks
    with pytest.raises(PeriodCloseRefused, match="has not ended"):
        period_close_propose(acting_user=maker, entity=ledger.entity, kind="month", day=DEC1)
    close_days(ledger.entity, DEC31)
    with pytest.raises(PeriodCloseRefused, match="Months close in order: 2026-11"):
        period_close_propose(acting_user=maker, entity=ledger.entity, kind="month", day=DEC31)
    with pytest.raises(PeriodCloseRefused, match="Every month"):
        period_close_propose(acting_user=maker, entity=ledger.entity, kind="year", day=DEC31)


def test_only_staff_with_the_permission_propose_or_approve(ledger, november, clerks):
    auditor = staff_user("auditor", "Auditor")
    with pytest.raises(NotAllowed):
        period_close_propose(acting_user=auditor, entity=ledger.entity, kind="month", day=NOV30)
    period = period_close_propose(acting_user=clerks[0], entity=ledger.entity, kind="month", day=NOV30)
    with pytest.raises(NotAllowed):
        period_close_approve(acting_user=auditor, period_id=period.pk)


def test_a_back_dated_posting_into_the_closed_month_is_refused(ledger, november, clerks):
    close(ledger.entity, PeriodKind.MONTH, NOV30, clerks)
    from postings.exceptions import DayClosed
    from postings.services import Leg, posting_create

    with pytest.raises(DayClosed):
        posting_create(
            request_no="late-nov",
            business_type="adjustment",
            legs=[Leg.debit(november["coupon"].account_no, "1"), Leg.credit(november["fee"].account_no, "1")],
            posted_by="clerk",
            accounting_date=NOV30 - timedelta(days=1),
        )


def test_a_correction_of_the_closed_month_is_booked_on_the_open_day_and_named(ledger, november, clerks, client):
    """The coupon was 10 and should have been 8: a red-ink correction (maker-checker, postings.corrections)
    after November closed. Red and blue are booked on Dec 1, name Nov 30, and count in December."""
    entity, a = ledger.entity, november
    ensure_correction_roles()
    close(entity, PeriodKind.MONTH, NOV30, clerks)
    before = figures(entity, date(2026, 11, 1), NOV30)
    coupon = Posting.objects.get(business_type="coupon")
    maker, checker = clerks
    proposal = correction_propose(
        serial_no=coupon.serial_no,
        legs=[(a["coupon"].account_no, "D", "8.00"), (a["bob"].account_no, "C", "8.00")],
        reason="the campaign paid 8",
        request_no="fix-coupon",
        acting_user=maker,
    )
    with pytest.raises(CorrectionSamePerson):  # the proposer does not approve it
        correction_approve(correction_id=proposal.pk, acting_user=maker)
    booked = correction_approve(correction_id=proposal.pk, acting_user=checker)
    red, blue = booked.red_posting, booked.blue_posting
    assert {(p.accounting_date, p.corrects_date) for p in (red, blue)} == {(DEC1, NOV30)}

    assert figures(entity, date(2026, 11, 1), NOV30) == before  # the closed month never changes
    close_days(entity, DEC1)
    # December carries it, as the GL books it: red ink -10 on the debit side, blue 8.
    assert figures(entity, DEC1, DEC1)["6601"] == fig(0, -2, 0, -2)
    by_vouchers = voucher_period_turnover(entity=entity, start=DEC1, end=DEC1)
    by_trial = {
        (r.subject_code, r.currency): (r.debit, r.credit)
        for r in trial_balance(entity=entity, start=DEC1, end=DEC1)
        if r.debit or r.credit
    }
    assert by_vouchers == by_trial

    client.force_login(maker)
    page = client.get(reverse("reports:trial_balance"), {"entity": entity.pk, "kind": "month", "period": "2026-11"})
    table = page.content.decode().split('id="period-corrections"')[1].split("</table>")[0]
    assert table.count("<tr><td") == 2  # red and blue; the close's own posting is not a correction
    assert f"P{red.serial_no}" in table and f"P{blue.serial_no}" in table


def test_a_business_systems_reversal_of_a_closed_month_is_refused_and_points_to_a_correction(ledger, clerks):
    """A reversal is one system's say-so; a correction of a closed period
    needs a second person (issue 22 §2). Before the close the same call
    reverses; after it, the API answers 409 and nothing is booked."""
    from tests.api.conftest import Caller, client_with_key, transfer_body

    _, key = client_with_key("trade", ["post"])
    trade = Caller(key, "trade")
    open_books_on(ledger.entity, NOV30)
    alice, bob = ledger.cash(ledger.member("Alice Zhang")), ledger.cash(ledger.member("Bob Li"))
    ledger.recharge(alice, "100")
    november = trade.post("postings", transfer_body(alice, bob, "30", request_no="t-nov")).json()
    close_days(ledger.entity, NOV30)
    close(ledger.entity, PeriodKind.MONTH, NOV30, clerks)

    before = Posting.objects.count()
    response = trade.post(f"postings/{november['serial_no']}/reversal", {"request_no": "rv-closed"})
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "closed_period_needs_correction"
    assert "2026-11-30" in error["message"] and "红冲" in error["message"]
    assert Posting.objects.count() == before and ledger.balance(bob) == D("30")
    # December's own postings are still reversed by the business system.
    december = trade.post("postings", transfer_body(alice, bob, "5", request_no="t-dec")).json()
    assert trade.post(f"postings/{december['serial_no']}/reversal", {"request_no": "rv-open"}).status_code == 201
    assert ledger.balance(bob) == D("30")
