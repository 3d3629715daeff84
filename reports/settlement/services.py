"""Settlement (结算): merchants' pending funds made available T+N, channel
clearing accounts settled to the bank, reserve-fund bank balances recorded.

Design overview
---------------
Both settlements *cover* entries: a ``SettledEntry`` row per entry, unique
per entry, so an entry is settled once whoever runs what, and a settlement's
figures are the sum of its covered entries (checked by PostgreSQL at COMMIT,
reports/sql/settlement.sql). The money moves through the posting service in
the same transaction as the rows that say what it covers: both commit, or
neither.

Merchant T+N (``merchant_settle``). A merchant with a ``SettlementTerm`` is
paid on its pending account (待结算). A credit of accounting date D becomes
due on the N-th business day after D (``calendar.BusinessDays``), compared
with the entity's open accounting date. A settlement covers the due credits
and every debit not yet covered (a refund taken from pending funds lowers
what is moved at once), and moves their net, Dr pending / Cr available,
when it is positive. So the pending balance never falls below what is not
yet due. The term's row is locked first: two runs for one merchant queue,
and the second finds the first's entries covered.

Channel settlement (``channel_settle``). A batch takes the channel's
unsettled entries on its clearing accounts posted up to the cut-off (applied
ones: a hot account's pending legs wait for the flush) and books, in one
posting: each clearing account back by its net (collected in less paid out),
the channel's fee on the covered entries (the fee of each entry's statement
line, matched by the channel's serial number, as reconciliation reads it) to
fee cost, and the rest to the bank or reserve-fund account (备付金): received
when positive, paid when negative. The channel's setup row is locked first,
so batches of one channel queue; the unique covered entry refuses what got
past. Settlement postings' own legs are never covered, so a clearing
account's balance is always the sum of its unsettled entries
(``checks.clearing_unexplained``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from accounts.kernel.errors import LedgerError, LedgerValidationError
from accounts.kernel.money import ZERO
from accounts.kernel.permissions import require_permission
from postings.models import BusinessType, Direction, Entry
from postings.services import Leg, posting_create
from postings.services.calendar import calendar_for

from ..channel.models import Channel, StatementLine
from .calendar import BusinessDays
from .exceptions import (
    ChannelNotSetUp,
    CutOffInFuture,
    NothingToSettle,
    ReserveBalanceExists,
    ReserveFileInvalid,
)
from .models import (
    ChannelSettlement,
    ChannelSettlementSetup,
    MerchantSettlement,
    ReserveBalance,
    ReserveBankAccount,
    SettledEntry,
    SettlementTerm,
)

SETTLEMENT_TYPES = (BusinessType.SETTLEMENT, BusinessType.CHANNEL_SETTLEMENT)
PERM_SETTLE_CHANNEL = "reports.settle_channel"
PERM_ENTER_RESERVE = "reports.add_reservebalance"
JOB = "system:settlement"


def unsettled_entries(accounts):
    """Applied entries on ``accounts`` no settlement covers, settlement legs aside."""
    return Entry.objects.filter(account__in=accounts, settled_by__isnull=True, balance_after__isnull=False).exclude(
        business_type__in=SETTLEMENT_TYPES
    )


# ------------------------------------------------------------ merchant ----


def merchant_due_entries(term: SettlementTerm, today: date | None = None):
    """(the due entries of ``term``'s pending account, the latest accounting date due)."""
    entity_id = term.account.entity_id
    today = today or calendar_for(entity=term.account.entity).open_date
    through = BusinessDays(entity_id=entity_id, around=today).funds_due_through(today, term.days)
    due = unsettled_entries([term.pending_account_id]).filter(
        Q(direction=Direction.DEBIT) | Q(direction=Direction.CREDIT, accounting_date__lte=through)
    )
    return due, through


def merchant_settle(*, term_id: int, settled_by: str = JOB) -> MerchantSettlement | None:
    """Move the funds of one merchant that are due (T+N), or None when
    nothing positive is due. Safe to run any number of times, at once too."""
    with transaction.atomic():
        term = (
            SettlementTerm.objects.select_for_update(no_key=True, of=("self",))
            .select_related("account__entity", "pending_account")
            .get(pk=term_id)
        )
        due, through = merchant_due_entries(term)
        rows = list(due.order_by("serial_no").values_list("serial_no", "direction", "amount"))
        net = sum((a if d == Direction.CREDIT else -a for _, d, a in rows), ZERO)
        if net <= 0:
            return None
        pending, account = term.pending_account, term.account
        posting = posting_create(
            request_no=f"mset-{pending.account_no}-{rows[-1][0]}",
            business_type=BusinessType.SETTLEMENT,
            legs=[Leg(pending.account_no, Direction.DEBIT, net), Leg(account.account_no, Direction.CREDIT, net)],
            posted_by=settled_by,
            currency=account.currency,
            memo=f"T+{term.days} settlement of funds through {through:%Y-%m-%d}",
        )
        settlement = MerchantSettlement.objects.create(
            account=account,
            pending_account=pending,
            currency=account.currency,
            amount=net,
            settled_on=posting.accounting_date,
            funds_through=through,
            posting=posting,
            request_no=posting.request_no,
            entry_count=len(rows),
            settled_by=settled_by,
        )
        SettledEntry.objects.bulk_create(
            SettledEntry(entry_id=serial, merchant_settlement=settlement) for serial, _, _ in rows
        )
        return settlement


@dataclass
class SettleRun:
    settled: list[MerchantSettlement]
    refused: list[tuple[int, LedgerError]]


def merchant_settlements_run(*, settled_by: str = JOB, batch: int = 200) -> SettleRun:
    """The beat job: every merchant with a term, ``batch`` terms at a time,
    each in its own transaction. A merchant whose move is refused (its
    account blocked, say) is reported and retried at the next run."""
    run = SettleRun([], [])
    last = 0
    while True:
        ids = list(SettlementTerm.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return run
        for term_id in ids:
            try:
                settlement = merchant_settle(term_id=term_id, settled_by=settled_by)
            except LedgerError as exc:
                run.refused.append((term_id, exc))
                continue
            if settlement is not None:
                run.settled.append(settlement)
        last = ids[-1]


# ------------------------------------------------------------- channel ----


def _fee_of_entry(channel: Channel):
    """The fee of the entry's statement line: the channel's counting line of
    the entry's serial number and direction, in a statement not voided."""
    lines = StatementLine.objects.filter(
        channel=channel,
        serial_no=OuterRef("posting__external_ref"),
        counts=True,
        statement__voided_at__isnull=True,
    ).order_by("-id")
    return (
        Subquery(lines.filter(direction="in").values("fee")[:1]),
        Subquery(lines.filter(direction="out").values("fee")[:1]),
        Subquery(lines.values("id")[:1]),
    )


def channel_settle(
    *, channel_code: str, settled_by: str, cut_off: datetime | None = None, acting_user=None
) -> ChannelSettlement:
    """Settle a channel's clearing account(s) up to ``cut_off`` (default:
    now): one batch, one posting. NothingToSettle when no entry is left."""
    if acting_user is not None:
        require_permission(acting_user, PERM_SETTLE_CHANNEL, doing="run a channel settlement")
    now = timezone.now()
    cut_off = cut_off or now
    if cut_off > now:
        raise CutOffInFuture(f"The cut-off {timezone.localtime(cut_off):%Y-%m-%d %H:%M} has not come yet.")
    channel = Channel.objects.filter(code=channel_code).first()
    if channel is None:
        raise LedgerValidationError(f"No channel {channel_code}.", channel=channel_code)
    with transaction.atomic():
        setup = (
            ChannelSettlementSetup.objects.select_for_update(no_key=True, of=("self",))
            .select_related("bank_account", "fee_account")
            .filter(channel=channel)
            .first()
        )
        if setup is None:
            raise ChannelNotSetUp(
                f"Channel {channel.code} has no settlement setup: a ledger admin sets its bank and fee accounts.",
                channel=channel.code,
            )
        clearing = dict(channel.clearing_accounts.values_list("pk", "account_no"))
        fee_in, fee_out, line_id = _fee_of_entry(channel)
        rows = list(
            unsettled_entries(list(clearing))
            .filter(created_at__lte=cut_off)
            .annotate(fee_in=fee_in, fee_out=fee_out, line_id=line_id)
            .order_by("serial_no")
            .values_list("serial_no", "account_id", "direction", "amount", "fee_in", "fee_out", "line_id")
        )
        if not rows:
            raise NothingToSettle(
                f"Channel {channel.code} has no unsettled entries up to "
                f"{timezone.localtime(cut_off):%Y-%m-%d %H:%M:%S}.",
                channel=channel.code,
            )
        per_account: dict[int, Decimal] = {}
        gross_in = gross_out = fee = ZERO
        covered = []
        for serial, account_id, direction, amount, f_in, f_out, line in rows:
            entry_fee = (f_in if direction == Direction.DEBIT else f_out) or ZERO
            if direction == Direction.DEBIT:
                gross_in += amount
                per_account[account_id] = per_account.get(account_id, ZERO) + amount
            else:
                gross_out += amount
                per_account[account_id] = per_account.get(account_id, ZERO) - amount
            fee += entry_fee
            covered.append((serial, entry_fee, line if entry_fee or line else None))
        net = gross_in - gross_out
        legs = [
            Leg(clearing[a], Direction.CREDIT if n > 0 else Direction.DEBIT, abs(n))
            for a, n in sorted(per_account.items())
            if n
        ]
        if net - fee:
            legs.append(
                Leg(setup.bank_account.account_no, Direction.DEBIT if net > fee else Direction.CREDIT, abs(net - fee))
            )
        if fee:
            legs.append(Leg(setup.fee_account.account_no, Direction.DEBIT, fee))
        request_no = f"cset-{channel.code}-{rows[-1][0]}"
        posting = None
        if legs:
            posting = posting_create(
                request_no=request_no,
                business_type=BusinessType.CHANNEL_SETTLEMENT,
                legs=legs,
                posted_by=settled_by,
                currency=channel.currency,
                memo=f"settlement of channel {channel.code} up to {timezone.localtime(cut_off):%Y-%m-%d %H:%M:%S}",
            )
        settlement = ChannelSettlement.objects.create(
            channel=channel,
            cut_off=cut_off,
            currency=channel.currency,
            bank_account=setup.bank_account,
            fee_account=setup.fee_account,
            gross_in=gross_in,
            gross_out=gross_out,
            fee=fee,
            net=net,
            entry_count=len(rows),
            posting=posting,
            request_no=request_no,
            settled_by=settled_by,
        )
        SettledEntry.objects.bulk_create(
            SettledEntry(entry_id=serial, channel_settlement=settlement, fee=entry_fee, statement_line_id=line)
            for serial, entry_fee, line in covered
        )
        return settlement


# --------------------------------------------------------- reserve funds ----


def reserve_balance_enter(
    *, acting_user, bank_account: ReserveBankAccount, balance_date: date, balance, source: str = "entered"
) -> ReserveBalance:
    """Record a reserve-fund bank account's balance at the end of a day, as the bank says it."""
    require_permission(acting_user, PERM_ENTER_RESERVE, doing="record reserve-fund bank balances")
    try:
        amount = Decimal(str(balance).replace(",", "").strip())
    except InvalidOperation:
        raise LedgerValidationError(f"{balance!r} is not an amount.", balance="invalid") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise LedgerValidationError(f"{balance!r} is not an amount in cents.", balance="invalid")
    exists = ReserveBalanceExists(
        f"{bank_account} already has a balance for {balance_date:%Y-%m-%d}.",
        bank_account=bank_account.account_no,
        balance_date=balance_date,
    )
    if ReserveBalance.objects.filter(bank_account=bank_account, balance_date=balance_date).exists():
        raise exists
    try:
        with transaction.atomic():
            return ReserveBalance.objects.create(
                bank_account=bank_account,
                balance_date=balance_date,
                balance=amount,
                source=source,
                entered_by=acting_user,
            )
    except IntegrityError:  # entered by someone else meanwhile (the unique day)
        raise exists from None


def reserve_file_read(content: bytes) -> list[dict]:
    """The rows of a balance file (CSV: bank_account_no, date, balance),
    each checked; ReserveFileInvalid names every bad line."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReserveFileInvalid(["the file is not UTF-8 text"]) from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"bank_account_no", "date", "balance"}
    if not reader.fieldnames or not needed <= {f.strip() for f in reader.fieldnames}:
        raise ReserveFileInvalid([f"the header must name the columns {', '.join(sorted(needed))}"])
    accounts = {a.account_no: a for a in ReserveBankAccount.objects.filter(active=True)}
    rows, problems, seen = [], [], set()
    for line_no, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        account = accounts.get(row["bank_account_no"])
        try:
            day = date.fromisoformat(row["date"])
            amount = Decimal(row["balance"].replace(",", ""))
            if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
                raise InvalidOperation
        except (ValueError, InvalidOperation):
            problems.append(f"line {line_no}: the date (YYYY-MM-DD) or the balance is not valid")
            continue
        if account is None:
            problems.append(f"line {line_no}: no active reserve-fund bank account {row['bank_account_no']}")
            continue
        if (account.pk, day) in seen:
            problems.append(f"line {line_no}: {account.account_no} on {day} appears twice")
            continue
        seen.add((account.pk, day))
        if ReserveBalance.objects.filter(bank_account=account, balance_date=day).exists():
            problems.append(f"line {line_no}: {account.account_no} already has a balance for {day}")
            continue
        rows.append(
            {
                "bank_account": account.pk,
                "account_no": account.account_no,
                "date": day.isoformat(),
                "balance": str(amount),
            }
        )
    if problems:
        raise ReserveFileInvalid(problems)
    if not rows:
        raise ReserveFileInvalid(["the file has no balance lines"])
    return rows


def reserve_file_commit(*, acting_user, rows: list[dict]) -> int:
    """Write a previewed file's balances, all or none; the count written."""
    with transaction.atomic():
        for row in rows:
            reserve_balance_enter(
                acting_user=acting_user,
                bank_account=ReserveBankAccount.objects.get(pk=row["bank_account"]),
                balance_date=date.fromisoformat(row["date"]),
                balance=row["balance"],
                source=ReserveBalance.Source.IMPORTED,
            )
    return len(rows)
