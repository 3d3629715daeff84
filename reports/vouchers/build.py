"""Building a day's vouchers from its entries (the end of day's vouchers step).

Design
------
The day's entries are aggregated in SQL into voucher lines: per voucher
(the business type's grouping key and the currency) and per subject,
direction, business type, posting (for a voucher per posting) and the
auxiliary dimensions configured for the subject (``SubjectDimensions``),
with the amount, the count and the first and last serial numbers of the
entries. What comes back is bounded by the chart, the groupings and the
dimensions, not by the entries (but a member dimension gives a line per
member that moved).

Every voucher of a day balances per currency, because every posting does
and a voucher takes every leg of each posting it gathers (all the postings
of a business type, or one posting). The database checks it anyway.

A rebuild (a retried or re-run end of day) compares what the entries give,
per voucher key, with the day's live voucher of that key (the latest blue
voucher not reversed):

- the same lines: nothing changes (so a retry is idempotent);
- a draft: its lines are replaced in place, its number kept (a draft whose
  key gives nothing any more is deleted);
- exported or acknowledged: it is never changed. A red-ink voucher (红字冲销)
  reverses it (same lines, negative amounts, ``reverses`` it) and a new blue
  draft carries what the entries give now; the GL, which imports both,
  nets its turnover to the corrected day.

A red-ink correction (红冲 + 蓝字, postings.models.Correction) gives two
vouchers of their own: the red posting's (kind red, key ``red:<serial>``,
reversing no voucher: its lines are the original's subjects and directions
with negative amounts) and the blue posting's (``posting:<serial>``).

Numbers: sequential per entity and month (``VoucherSequence``, locked while
they are given), in the order vouchers are built: key, then currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection, transaction

from accounts.models import Entity
from postings.models import BusinessType, Correction

from .models import (
    DEFAULT_WORD,
    GroupBy,
    Voucher,
    VoucherKind,
    VoucherLine,
    VoucherSequence,
    VoucherStatus,
)

_Q4 = Decimal("0.0001")
# The voucher key of a red-ink correction's red posting (postings.models.Correction).
RED_KEY = "red:"

# A period close's postings are booked on the open day but belong to the
# period they close: their vouchers are built by the close, dated on its last
# day (closing_vouchers_build), not with the day they were booked on.
CLOSING_TYPES = (BusinessType.PL_CARRY_FORWARD.value, BusinessType.YEAR_END_CLOSE.value)
CLOSING_KEY = "close:"

# The line's columns, in the order the query gives them after the voucher key.
LINE_FIELDS = (
    "subject_code",
    "direction",
    "currency",
    "business_type",
    "posting_serial",
    "customer",
    "member",
    "merchant",
    "channel",
    "bank_account",
    "department",
    "amount",
    "entry_count",
    "first_entry_serial",
    "last_entry_serial",
)

_LINES_SQL = f"""
    WITH chan AS (SELECT x.account_id, MIN(ch.code) AS code
                    FROM reports_channel_clearing_accounts x JOIN reports_channel ch ON ch.id = x.channel_id
                   GROUP BY x.account_id),
         bank AS (SELECT b.clearing_account_id AS account_id, MIN(b.code) AS code
                    FROM withdrawals_payingbank b GROUP BY b.clearing_account_id),
         keyed AS (
           SELECT CASE WHEN rc.id IS NOT NULL THEN '{RED_KEY}' || e.posting_id
                       WHEN bc.id IS NOT NULL THEN 'posting:' || e.posting_id
                       ELSE CASE COALESCE(g.group_by, '{GroupBy.DAY}')
                       WHEN '{GroupBy.POSTING}' THEN 'posting:' || e.posting_id
                       WHEN '{GroupBy.MERGED}' THEN 'merged:' || COALESCE(g.voucher_word, %(word)s)
                       ELSE 'type:' || e.business_type END END AS group_key,
                  COALESCE(g.voucher_word, %(word)s) AS word,
                  t.subject_code,
                  CASE WHEN rc.id IS NULL THEN e.direction WHEN e.direction = 'D' THEN 'C' ELSE 'D' END AS direction,
                  e.currency, e.business_type,
                  CASE WHEN g.group_by = '{GroupBy.POSTING}' OR rc.id IS NOT NULL OR bc.id IS NOT NULL
                       THEN e.posting_id END AS posting_serial,
                  CASE WHEN f.customer AND m.customer_id IS NOT NULL THEN 'C' || m.customer_id ELSE '' END AS customer,
                  CASE WHEN f.member THEN COALESCE(m.member_no, '') ELSE '' END AS member,
                  CASE WHEN f.merchant AND cu.kind = 'company' THEN m.member_no ELSE '' END AS merchant,
                  CASE WHEN f.channel THEN COALESCE(chan.code, '') ELSE '' END AS channel,
                  CASE WHEN f.bank_account THEN COALESCE(bank.code, '') ELSE '' END AS bank_account,
                  COALESCE(f.department, '') AS department,
                  CASE WHEN rc.id IS NULL THEN e.amount ELSE -e.amount END AS amount, e.serial_no
             FROM postings_entry e
             JOIN accounts_account a ON a.id = e.account_id
             JOIN accounts_accounttype t ON t.id = a.account_type_id
             -- A correction's red posting is red ink: its entries (the original's with the
             -- directions swapped) become lines in the original's directions, negative; it and
             -- its blue posting each get a voucher of their own. Few rows, unique keys.
             LEFT JOIN postings_correction rc ON rc.red_posting_id = e.posting_id
             LEFT JOIN postings_correction bc ON bc.blue_posting_id = e.posting_id
             LEFT JOIN reports_vouchergrouping g ON g.business_type = e.business_type
             LEFT JOIN reports_subjectdimensions f ON f.subject_code = t.subject_code
             LEFT JOIN accounts_member m ON m.id = a.member_id AND (f.customer OR f.member OR f.merchant)
             LEFT JOIN accounts_customer cu ON cu.id = m.customer_id AND f.merchant
             LEFT JOIN chan ON chan.account_id = a.id AND f.channel
             LEFT JOIN bank ON bank.account_id = a.id AND f.bank_account
            WHERE e.accounting_date = %(day)s AND a.entity_id = %(entity)s
              AND e.business_type <> ALL(%(closing_types)s))
    SELECT group_key, word, subject_code, direction, currency, business_type, posting_serial,
           customer, member, merchant, channel, bank_account, department,
           SUM(amount), COUNT(*), MIN(serial_no), MAX(serial_no)
      FROM keyed
     GROUP BY group_key, word, subject_code, direction, currency, business_type, posting_serial,
              customer, member, merchant, channel, bank_account, department
     ORDER BY group_key, currency, direction DESC, subject_code, business_type, posting_serial,
              customer, member, merchant, channel, bank_account, department"""


@dataclass
class _Planned:
    key: str
    currency: str
    word: str
    lines: list[tuple]  # LINE_FIELDS values

    @property
    def business_type(self) -> str:
        return self.lines[0][3]


@dataclass(frozen=True)
class BuildResult:
    vouchers: int  # the day's vouchers after the build
    created: int
    rebuilt: int  # drafts whose lines were replaced
    deleted: int  # drafts that had nothing left
    reversed: int  # exported vouchers given a red-ink reversal
    unbalanced: tuple[str, ...] = ()  # voucher keys whose entries do not balance: not built

    @property
    def message(self) -> str:
        parts = [f"{self.vouchers} vouchers"]
        for n, what in (
            (self.created, "new"),
            (self.rebuilt, "drafts rebuilt"),
            (self.deleted, "drafts deleted"),
            (self.reversed, "exported vouchers reversed in red ink"),
        ):
            if n:
                parts.append(f"{n} {what}")
        if self.unbalanced:
            parts.append("not built, their entries do not balance (see the checks): " + ", ".join(self.unbalanced))
        return ", ".join(parts)


def _period(day: date) -> date:
    return day.replace(day=1)


def _balanced(plan: _Planned) -> bool:
    return sum(ln[11] if ln[1] == "D" else -ln[11] for ln in plan.lines) == 0


def _planned(entity: Entity, day: date) -> dict[tuple[str, str], _Planned]:
    with connection.cursor() as cursor:
        cursor.execute(
            _LINES_SQL, {"entity": entity.pk, "day": day, "word": DEFAULT_WORD, "closing_types": list(CLOSING_TYPES)}
        )
        rows = cursor.fetchall()
    planned: dict[tuple[str, str], _Planned] = {}
    for key, word, *line in rows:
        line[11] = Decimal(line[11]).quantize(_Q4)
        line[12] = int(line[12])
        plan = planned.setdefault((key, line[2]), _Planned(key, line[2], word, []))
        plan.lines.append(tuple(line))
    return planned


def _content(lines) -> list[tuple]:
    return [tuple(getattr(line, name) for name in LINE_FIELDS) for line in lines]


def _summary(plan: _Planned, day: date) -> str:
    if plan.key.startswith(RED_KEY):
        serial = int(plan.key.split(":", 1)[1])
        c = Correction.objects.filter(red_posting_id=serial).values_list("pk", "original_id").first()
        of = f" 冲 P{c[1]} (correction C{c[0]})" if c else ""
        return f"红字冲销 {_label(plan.business_type)} P{serial}{of} {day:%Y-%m-%d}"
    if plan.key.startswith("posting:"):
        serial = int(plan.key.split(":", 1)[1])
        c = Correction.objects.filter(blue_posting_id=serial).values_list("pk", "original_id").first()
        if c:
            return f"蓝字更正 {_label(plan.business_type)} P{serial} 更正 P{c[1]} (correction C{c[0]}) {day:%Y-%m-%d}"
    if plan.key.startswith("posting:"):
        return f"{_label(plan.business_type)} P{plan.key.split(':', 1)[1]} {day:%Y-%m-%d}"
    if plan.key.startswith("merged:"):
        return f"日汇总 daily summary {day:%Y-%m-%d}"
    return f"{_label(plan.business_type)} 汇总 {day:%Y-%m-%d}"


def _label(business_type: str) -> str:
    try:
        return BusinessType(business_type).label
    except ValueError:
        return business_type


class _Numbers:
    """Voucher numbers of one entity and month, given under the sequence's row lock."""

    def __init__(self, entity: Entity, period: date):
        VoucherSequence.objects.get_or_create(entity=entity, period=period)
        self.row = VoucherSequence.objects.select_for_update(no_key=True).get(entity=entity, period=period)

    def next(self) -> int:
        self.row.last_number += 1
        return self.row.last_number

    def save(self) -> None:
        self.row.save(update_fields=["last_number"])


def _lines(voucher: Voucher, lines: list[tuple], *, sign: int = 1) -> list[VoucherLine]:
    out = []
    for n, values in enumerate(lines, 1):
        fields = dict(zip(LINE_FIELDS, values, strict=True))
        fields["amount"] = fields["amount"] * sign
        out.append(VoucherLine(voucher=voucher, line_no=n, **fields))
    return out


def vouchers_build(*, entity: Entity, accounting_date: date) -> BuildResult:
    """Build (or rebuild) the vouchers of ``entity``'s ``accounting_date``;
    see the module's docstring. One transaction; safe to run again."""
    with transaction.atomic():
        planned = _planned(entity, accounting_date)
        # Entries that do not balance were written behind the ledger's back (the checks name them); a
        # voucher of them would be refused by the database and by the GL. Its key is left as it is.
        unbalanced = sorted(key for key, plan in planned.items() if not _balanced(plan))
        numbers = _Numbers(entity, _period(accounting_date))
        day_vouchers = list(
            Voucher.objects.select_for_update(no_key=True)
            .filter(entity=entity, accounting_date=accounting_date)
            .exclude(group_key__startswith=CLOSING_KEY)
            .order_by("id")
        )
        reversed_ids = {v.reverses_id for v in day_vouchers if v.reverses_id}
        live = {
            (v.group_key, v.currency): v for v in day_vouchers if v.reverses_id is None and v.pk not in reversed_ids
        }
        lines_of: dict[int, list[VoucherLine]] = {}
        for line in VoucherLine.objects.filter(voucher__in=live.values()).order_by("voucher_id", "line_no"):
            lines_of.setdefault(line.voucher_id, []).append(line)

        created = rebuilt = deleted = reversed_ = 0
        new_lines: list[VoucherLine] = []
        for key in sorted(set(planned) | set(live)):
            if key in unbalanced:
                continue
            plan, voucher = planned.get(key), live.get(key)
            if voucher is not None:
                if plan is not None and _content(lines_of.get(voucher.pk, [])) == plan.lines:
                    continue
                if voucher.status == VoucherStatus.DRAFT:
                    VoucherLine.objects.filter(voucher=voucher).delete()
                    if plan is None:
                        voucher.delete()
                        deleted += 1
                    else:
                        voucher.summary, voucher.word = _summary(plan, accounting_date), plan.word
                        voucher.save(update_fields=["summary", "word"])
                        new_lines += _lines(voucher, plan.lines)
                        rebuilt += 1
                    continue
                red = Voucher.objects.create(
                    entity=entity,
                    accounting_date=accounting_date,
                    period=voucher.period,
                    number=numbers.next(),
                    word=voucher.word,
                    summary=f"红字冲销 reverses {voucher.voucher_no}"
                    + (f" (GL {voucher.gl_voucher_no})" if voucher.gl_voucher_no else ""),
                    kind=VoucherKind.RED,
                    reverses=voucher,
                    group_key=voucher.group_key,
                    currency=voucher.currency,
                )
                new_lines += _lines(red, _content(lines_of.get(voucher.pk, [])), sign=-1)
                reversed_ += 1
            if plan is not None:
                blue = Voucher.objects.create(
                    entity=entity,
                    accounting_date=accounting_date,
                    period=_period(accounting_date),
                    number=numbers.next(),
                    word=plan.word,
                    summary=_summary(plan, accounting_date),
                    kind=VoucherKind.RED if plan.key.startswith(RED_KEY) else VoucherKind.BLUE,
                    group_key=plan.key,
                    currency=plan.currency,
                )
                new_lines += _lines(blue, plan.lines)
                created += 1
        VoucherLine.objects.bulk_create(new_lines, batch_size=5000)
        numbers.save()
        total = Voucher.objects.filter(entity=entity, accounting_date=accounting_date).count()
    return BuildResult(total, created, rebuilt, deleted, reversed_, tuple(f"{k} {c}" for k, c in unbalanced))


_CLOSING_LINES_SQL = """
    SELECT t.subject_code, e.direction, e.currency, e.business_type, SUM(e.amount), COUNT(*),
           MIN(e.serial_no), MAX(e.serial_no)
      FROM postings_entry e
      JOIN accounts_account a ON a.id = e.account_id
      JOIN accounts_accounttype t ON t.id = a.account_type_id
     WHERE e.posting_id = %s
     GROUP BY t.subject_code, e.direction, e.currency, e.business_type
     ORDER BY e.direction DESC, t.subject_code"""


def closing_vouchers_build(*, period) -> int:
    """The vouchers of a period close's postings (损益结转, 年结), one per
    posting, dated on the period's last day and numbered in its month. A
    posting that has its voucher already is left alone (a retried close)."""
    built = 0
    with transaction.atomic():
        month = _period(period.end_date)
        numbers = None
        for closing in period.closing_postings.select_related("posting").order_by("currency"):
            key = f"{CLOSING_KEY}{closing.posting_id}"
            if Voucher.objects.filter(entity=period.entity, group_key=key).exists():
                continue
            with connection.cursor() as cursor:
                cursor.execute(_CLOSING_LINES_SQL, [closing.posting_id])
                rows = cursor.fetchall()
            lines = [
                (
                    subject,
                    direction,
                    currency,
                    btype,
                    None,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    Decimal(amount).quantize(_Q4),
                    int(count),
                    first,
                    last,
                )
                for subject, direction, currency, btype, amount, count, first, last in rows
            ]
            numbers = numbers or _Numbers(period.entity, month)
            voucher = Voucher.objects.create(
                entity=period.entity,
                accounting_date=period.end_date,
                period=month,
                number=numbers.next(),
                word=DEFAULT_WORD,
                summary=f"{closing.posting.memo} P{closing.posting_id}",
                group_key=key,
                currency=closing.currency,
            )
            VoucherLine.objects.bulk_create(_lines(voucher, lines))
            built += 1
        if numbers is not None:
            numbers.save()
    return built
