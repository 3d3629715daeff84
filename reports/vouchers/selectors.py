"""Reads of vouchers: lists, a voucher's lines, the entries a line covers
(the walk down from a voucher to its entries), totals per currency, and
the vouchers' turnover per subject that the GL reconciliation compares."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, Max, Min, Q, QuerySet, Sum, Value, When

from accounts.models import Entity
from postings.models import Direction, Entry

from .models import Voucher, VoucherExport, VoucherLine

ZERO = Decimal(0)


def _money(expr) -> Sum:
    return Sum(expr, default=ZERO, output_field=DecimalField(max_digits=24, decimal_places=4))


def latest_voucher_date() -> date | None:
    return Voucher.objects.aggregate(d=Max("accounting_date"))["d"]


def vouchers() -> QuerySet:
    return (
        Voucher.objects.select_related("entity", "reverses", "reversed_by")
        .annotate(
            line_count=Count("lines"),
            debit=_money(Case(When(lines__direction="D", then=F("lines__amount")), default=Value(ZERO))),
        )
        .order_by("accounting_date", "entity__code", "period", "number")
    )


def voucher_totals(queryset: QuerySet) -> list[dict]:
    """Debit and credit amounts per currency of the vouchers' lines (red ink
    counted negative): equal when every voucher balances."""
    return list(
        VoucherLine.objects.filter(voucher__in=queryset.order_by().values("pk"))
        .values("currency")
        .annotate(
            debit=_money(Case(When(direction="D", then=F("amount")), default=Value(ZERO))),
            credit=_money(Case(When(direction="C", then=F("amount")), default=Value(ZERO))),
            vouchers=Count("voucher", distinct=True),
            entries=Sum("entry_count", default=0),
        )
        .order_by("currency")
    )


def voucher_balance(voucher: Voucher) -> list[dict]:
    return voucher_totals(Voucher.objects.filter(pk=voucher.pk))


def line_entries(line: VoucherLine) -> QuerySet:
    """The entries a line covers: the entity's entries of the voucher's day,
    business type (and posting), direction and currency, on accounts whose
    type maps to the line's subject and that carry its dimensions, within
    its serial range. A red-ink line covers the entries of the line it
    reverses, which are the same."""
    voucher = line.voucher
    direction = line.direction
    if voucher.group_key.startswith("red:"):  # a correction's red posting: entries on the other side
        direction = Direction.CREDIT if direction == Direction.DEBIT else Direction.DEBIT
    entries = Entry.objects.filter(
        account__entity_id=voucher.entity_id,
        accounting_date=voucher.accounting_date,
        account__account_type__subject_code=line.subject_code,
        direction=direction,
        business_type=line.business_type,
        currency=line.currency,
        serial_no__gte=line.first_entry_serial,
        serial_no__lte=line.last_entry_serial,
    )
    if line.posting_serial is not None:
        entries = entries.filter(posting_id=line.posting_serial)
    if line.member:
        entries = entries.filter(account__member__member_no=line.member)
    if line.merchant:
        entries = entries.filter(account__member__member_no=line.merchant)
    if line.customer:
        entries = entries.filter(account__member__customer_id=int(line.customer[1:]))
    if line.channel:
        entries = entries.filter(account__recon_channels__code=line.channel)
    return entries.select_related("account", "posting").order_by("serial_no")


def entries_summary(entries: QuerySet) -> dict:
    return entries.order_by().aggregate(
        n=Count("serial_no"), amount=_money("amount"), first=Min("serial_no"), last=Max("serial_no")
    )


def line_agrees(line: VoucherLine, summary: dict) -> bool:
    """The entries found add up to the line (its amount without the red sign)."""
    return (
        summary["n"] == line.entry_count
        and summary["amount"] == abs(line.amount)
        and summary["first"] == line.first_entry_serial
        and summary["last"] == line.last_entry_serial
    )


def voucher_lines_of_entry(entry: Entry) -> QuerySet:
    """The voucher lines that cover an entry (its blue line, and any red ink reversing it)."""
    account = entry.account
    lines = VoucherLine.objects.filter(
        voucher__entity_id=account.entity_id,
        voucher__accounting_date=entry.accounting_date,
        subject_code=account.account_type.subject_code,
        business_type=entry.business_type,
        currency=entry.currency,
        first_entry_serial__lte=entry.serial_no,
        last_entry_serial__gte=entry.serial_no,
    ).select_related("voucher__entity")
    # A correction's red posting is on its vouchers' lines in the other direction.
    other = Direction.CREDIT if entry.direction == Direction.DEBIT else Direction.DEBIT
    lines = lines.filter(
        (Q(direction=entry.direction) & ~Q(voucher__group_key__startswith="red:"))
        | Q(direction=other, voucher__group_key=f"red:{entry.posting_id}")
    )
    return lines.order_by("voucher__number")


def voucher_turnover(*, entity: Entity, accounting_date: date, exported_only: bool = False) -> dict:
    """(subject_code, currency) -> {"debit", "credit"}: what the day's vouchers
    put on each subject, red ink netted; with ``exported_only``, only what
    was sent to the GL (exported or acknowledged)."""
    lines = VoucherLine.objects.filter(voucher__entity=entity, voucher__accounting_date=accounting_date)
    if exported_only:
        lines = lines.exclude(voucher__status="draft")
    rows = lines.values("subject_code", "currency").annotate(
        debit=_money(Case(When(direction="D", then=F("amount")), default=Value(ZERO))),
        credit=_money(Case(When(direction="C", then=F("amount")), default=Value(ZERO))),
    )
    return {(r["subject_code"], r["currency"]): r for r in rows}


def voucher_exports() -> QuerySet:
    return VoucherExport.objects.select_related("entity", "created_by").defer("content")
