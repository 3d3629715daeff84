"""The period close (月结 / 年结): propose, approve (which posts the closing
entries and builds their vouchers), reject. One transaction each.

Month: every income and expense subject's account (subject of class 6) is
emptied into the entity's current-year profit account (本年利润) of its
currency, at its balance at the end of the month: one posting per currency
(损益结转). Year: the current-year profit account's balance at the end of the
year goes to retained earnings (未分配利润); the year closes once its twelve
months are. Both postings go through the posting service on the open day,
name the period's last day (``corrects_date``) and belong to the period
(``PeriodClosingPosting``); their vouchers are dated on that last day.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts.chart import CURRENT_YEAR_PROFIT_TYPE, PROFIT_AND_LOSS_SUBJECT_PREFIX, RETAINED_EARNINGS_TYPE
from accounts.kernel.permissions import require_permission
from accounts.models import Account, Category, Entity
from postings.models import AccountingCalendar, AccountingDay, BusinessType, DayStatus
from postings.services import Leg, posting_create

from ..vouchers.build import closing_vouchers_build
from .exceptions import PeriodCloseRefused, PeriodCloseSelfApproval, PeriodNotClosing
from .models import AccountingPeriod, PeriodClosingPosting, PeriodKind, PeriodStatus

PROPOSE = "reports.propose_period_close"
APPROVE = "reports.approve_period_close"

# Each account's net credit (credits - debits) up to a day, a closing posting
# counted on the last day of the period it closes.
_NET_SQL = """
    SELECT a.account_no, e.currency,
           SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE -e.amount END)
      FROM postings_entry e
      JOIN accounts_account a ON a.id = e.account_id
      JOIN accounts_accounttype t ON t.id = a.account_type_id
      LEFT JOIN (SELECT cp.posting_id, p.end_date FROM reports_periodclosingposting cp
                   JOIN reports_accountingperiod p ON p.id = cp.period_id) c ON c.posting_id = e.posting_id
     WHERE a.entity_id = %(entity)s AND {which}
       AND COALESCE(c.end_date, e.accounting_date) <= %(end)s
     GROUP BY a.account_no, e.currency
     ORDER BY e.currency, a.account_no"""


def period_bounds(kind: str, day: date) -> tuple[date, date]:
    if kind == PeriodKind.MONTH:
        return day.replace(day=1), day.replace(day=_calendar.monthrange(day.year, day.month)[1])
    return date(day.year, 1, 1), date(day.year, 12, 31)


def period_get(*, entity: Entity, kind: str, day: date) -> AccountingPeriod:
    """The entity's period of ``kind`` containing ``day`` (recorded as open the first time)."""
    if kind not in PeriodKind.values:
        raise PeriodCloseRefused(f"Unknown period kind {kind!r}.", kind=kind)
    start, end = period_bounds(kind, day)
    AccountingPeriod.objects.bulk_create(
        [AccountingPeriod(entity=entity, kind=kind, start_date=start, end_date=end)], ignore_conflicts=True
    )
    return AccountingPeriod.objects.get(entity=entity, kind=kind, start_date=start)


def _refuse_unless_ready(period: AccountingPeriod) -> None:
    entity = period.entity
    calendar = AccountingCalendar.objects.get(entity=entity)
    if calendar.open_date <= period.end_date:
        raise PeriodCloseRefused(
            f"{entity.code} is on {calendar.open_date}: {period.label} has not ended.", period=period.label
        )
    open_days = list(
        AccountingDay.objects.filter(entity=entity, date__range=(period.start_date, period.end_date))
        .exclude(status=DayStatus.CLOSED)
        .order_by("date")
        .values_list("date", flat=True)[:3]
    )
    if open_days:
        raise PeriodCloseRefused(
            f"The end of day has not closed {', '.join(map(str, open_days))} of {entity.code}.",
            period=period.label,
            days=[str(d) for d in open_days],
        )
    through = calendar.closed_through
    if period.kind == PeriodKind.MONTH:
        # Months close in order: no day of the books before this month is left outside a closed one.
        earlier = AccountingDay.objects.filter(entity=entity, date__lt=period.start_date)
        if through is not None:
            earlier = earlier.filter(date__gt=through)
        first = earlier.order_by("date").values_list("date", flat=True).first()
        if first is not None:
            raise PeriodCloseRefused(
                f"Months close in order: {first:%Y-%m} of {entity.code} is not closed yet.",
                period=period.label,
                closed_through=str(through) if through else None,
            )
    elif through is None or through < period.end_date:
        raise PeriodCloseRefused(
            f"Every month of {period.label} closes before the year ({entity.code} is closed through {through}).",
            period=period.label,
        )


def period_close_propose(*, acting_user, entity: Entity, kind: str, day: date, note: str = "") -> AccountingPeriod:
    """Propose closing the period of ``kind`` containing ``day``: open -> closing.
    Proposing it again changes nothing."""
    require_permission(acting_user, PROPOSE, doing="propose a period close")
    with transaction.atomic():
        period = period_get(entity=entity, kind=kind, day=day)
        period = AccountingPeriod.objects.select_for_update(no_key=True).select_related("entity").get(pk=period.pk)
        if period.status != PeriodStatus.OPEN:
            return period
        _refuse_unless_ready(period)
        period.status, period.proposed_by, period.proposed_at = PeriodStatus.CLOSING, acting_user, timezone.now()
        period.proposal_note = note[:255]
        period.save(update_fields=["status", "proposed_by", "proposed_at", "proposal_note"])
    return period


def _decided(acting_user, period_id: int) -> AccountingPeriod:
    require_permission(acting_user, APPROVE, doing="decide a period close")
    period = AccountingPeriod.objects.select_for_update(no_key=True).select_related("entity").get(pk=period_id)
    return period


def period_close_reject(*, acting_user, period_id: int) -> AccountingPeriod:
    """Send a proposed close back (closing -> open): nothing was posted."""
    with transaction.atomic():
        period = _decided(acting_user, period_id)
        if period.status != PeriodStatus.CLOSING:
            raise PeriodNotClosing(f"{period.label} is {period.status}.", period=period.label)
        period.status, period.proposed_by, period.proposed_at = PeriodStatus.OPEN, None, None
        period.save(update_fields=["status", "proposed_by", "proposed_at"])
    return period


def _net(entity: Entity, end: date, which: str, params: dict) -> list[tuple[str, str, Decimal]]:
    with connection.cursor() as cursor:
        cursor.execute(_NET_SQL.format(which=which), {"entity": entity.pk, "end": end, **params})
        return [(no, cur, Decimal(n)) for no, cur, n in cursor.fetchall() if n]


def _internal(entity: Entity, type_code: str, currency: str, period: AccountingPeriod) -> Account:
    found = list(
        Account.objects.filter(
            entity=entity, account_type__code=type_code, currency=currency, category=Category.INTERNAL
        ).exclude(status="closed")[:2]
    )
    if len(found) != 1:
        raise PeriodCloseRefused(
            f"{entity.code} needs exactly one open {type_code} account in {currency} to close {period.label} "
            f"(found {len(found)}).",
            account_type=type_code,
            currency=currency,
        )
    return found[0]


def closing_legs(period: AccountingPeriod) -> dict[str, list[Leg]]:
    """The closing posting's legs per currency (empty: nothing to carry)."""
    entity = period.entity
    if period.kind == PeriodKind.MONTH:
        pl = {"prefix": f"{PROFIT_AND_LOSS_SUBJECT_PREFIX}%"}
        moved = _net(entity, period.end_date, "t.subject_code LIKE %(prefix)s", pl)
        target_type = CURRENT_YEAR_PROFIT_TYPE
    else:
        moved = _net(entity, period.end_date, "t.code = %(type)s", {"type": CURRENT_YEAR_PROFIT_TYPE})
        target_type = RETAINED_EARNINGS_TYPE
    legs: dict[str, list[Leg]] = {}
    for account_no, currency, net_credit in moved:
        # Emptying a net credit (income) debits the account; a net debit (expense) credits it.
        legs.setdefault(currency, []).append(
            Leg.debit(account_no, net_credit) if net_credit > 0 else Leg.credit(account_no, -net_credit)
        )
    for currency, currency_legs in legs.items():
        total = sum((Decimal(leg.amount) if leg.direction == "D" else -Decimal(leg.amount)) for leg in currency_legs)
        if total:
            target = _internal(entity, target_type, currency, period).account_no
            currency_legs.append(Leg.credit(target, total) if total > 0 else Leg.debit(target, -total))
    return {cur: ls for cur, ls in legs.items() if len(ls) >= 2}


def period_close_approve(*, acting_user, period_id: int) -> AccountingPeriod:
    """Approve a proposed close: post the closing entries, build their
    vouchers, close the period (closing -> closed), in one transaction. The
    proposer may not approve. Approving a closed period changes nothing."""
    with transaction.atomic():
        period = _decided(acting_user, period_id)
        if period.status == PeriodStatus.CLOSED:
            return period
        if period.status != PeriodStatus.CLOSING:
            raise PeriodNotClosing(f"Closing {period.label} has not been proposed.", period=period.label)
        if period.proposed_by_id == acting_user.pk:
            raise PeriodCloseSelfApproval(
                f"{acting_user.username} proposed closing {period.label} and cannot approve it.", period=period.label
            )
        _refuse_unless_ready(period)
        business_type = (
            BusinessType.PL_CARRY_FORWARD if period.kind == PeriodKind.MONTH else BusinessType.YEAR_END_CLOSE
        )
        what = "损益结转" if period.kind == PeriodKind.MONTH else "年结 本年利润转未分配利润"
        for currency, legs in sorted(closing_legs(period).items()):
            posting = posting_create(
                request_no=f"period-close-{period.entity.code}-{period.kind}-{period.label}-{currency}",
                business_type=business_type,
                legs=legs,
                posted_by=acting_user.username,
                memo=f"{what} {period.label}",
                currency=currency,
                corrects_date=period.end_date,
            )
            PeriodClosingPosting.objects.get_or_create(
                period=period, currency=currency, defaults={"posting_id": posting.serial_no}
            )
        closing_vouchers_build(period=period)
        period.status, period.approved_by, period.closed_at = PeriodStatus.CLOSED, acting_user, timezone.now()
        period.save(update_fields=["status", "approved_by", "closed_at"])
    return period
