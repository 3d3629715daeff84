"""Helpers of the settlement tests: a T+N merchant, a channel set up for
settlement, statement fees, read back as a test compares them."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from accounts.models import Account
from postings.models import AccountingCalendar
from postings.services import Leg, posting_create
from postings.services.calendar import calendar_for
from reports.channel.models import Channel, StatementImport, StatementLine
from reports.settlement.models import ChannelSettlementSetup, SettlementTerm

D = Decimal
_n = itertools.count(1)


def on_day(entity, day: date) -> None:
    """Put the entity's open accounting day on ``day`` (test setup; the day cut does it in production)."""
    calendar_for(entity=entity)
    AccountingCalendar.objects.filter(entity=entity).update(open_date=day)


def t_plus(ledger, days: int = 1):
    """A merchant with an available and a pending account, paid T+``days``."""
    member = ledger.member("Merchant")
    available, pending = ledger.cash(member), ledger.cash(member)
    term = SettlementTerm.objects.create(account=available, pending_account=pending, days=days)
    return term, available, pending


def pay(ledger, payer: Account, payee: Account, amount, **kw):
    return posting_create(
        request_no=f"pay-{next(_n)}",
        business_type="transfer",
        legs=[Leg(payer.account_no, "D", D(amount)), Leg(payee.account_no, "C", D(amount))],
        posted_by="test",
        **kw,
    )


def channel(ledger, code: str = "bank1") -> Channel:
    ch = Channel.objects.create(
        code=code, name=code, entity=ledger.entity, col_serial="serial", col_time="time", col_amount="amount"
    )
    ch.clearing_accounts.add(ledger.channel())
    ChannelSettlementSetup.objects.create(
        channel=ch, bank_account=ledger.internal("RESERVE_FUND"), fee_account=ledger.internal("CHANNEL_FEE")
    )
    return ch


def recharge(ledger, wallet: Account, amount, serial: str):
    return posting_create(
        request_no=f"rc-{serial}",
        business_type="recharge",
        legs=[Leg(ledger.channel().account_no, "D", D(amount)), Leg(wallet.account_no, "C", D(amount))],
        posted_by="test",
        external_ref=serial,
    )


def withdraw(ledger, wallet: Account, amount, serial: str):
    return posting_create(
        request_no=f"wd-{serial}",
        business_type="withdrawal",
        legs=[Leg(wallet.account_no, "D", D(amount)), Leg(ledger.channel().account_no, "C", D(amount))],
        posted_by="test",
        external_ref=serial,
    )


def statement(ch: Channel, day: date, lines: list[tuple[str, str, str, str]]) -> StatementImport:
    """A statement of (serial, direction, amount, fee) lines, stored as an import would."""
    imp = StatementImport.objects.create(
        channel=ch,
        statement_date=day,
        file_name=f"{ch.code}-{day}.csv",
        file_sha256=f"{next(_n):064d}",
        line_count=len(lines),
        imported_by="test",
    )
    StatementLine.objects.bulk_create(
        StatementLine(
            statement=imp,
            channel=ch,
            statement_date=day,
            line_no=i,
            serial_no=s,
            direction=d,
            amount=D(a),
            fee=D(f),
            raw="",
        )
        for i, (s, d, a, f) in enumerate(lines, start=1)
    )
    return imp


def balances(*accounts) -> list[Decimal]:
    return [Account.objects.get(pk=a.pk).balance for a in accounts]


def ensure_settlement_roles() -> None:
    """The roles as the migrations leave them (a transactional test empties them)."""
    import importlib

    from django.contrib.auth.models import Group, Permission

    from tests.postings.refund_books import ensure_refund_roles

    ensure_refund_roles()
    grants = importlib.import_module("reports.migrations.0019_settlement").GRANTS
    for group_name, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="reports", codename__in=codenames))
