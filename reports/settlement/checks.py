"""The end of day's settlement checks (registered with reports.eod.checks):
every channel clearing account's balance is explained by its unsettled
entries, and every settlement's figures are its covered entries'."""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.db.models import Sum

from accounts.kernel.money import ZERO
from accounts.models import Account, Entity

from ..channel.models import Channel
from ..eod.checks import CheckOutcome
from .models import ChannelSettlement, MerchantSettlement
from .services import unsettled_entries


def clearing_unexplained(*, entity: Entity, accounting_date: date | None = None) -> CheckOutcome:
    """clearing_settlement: a clearing account's balance = what its unsettled
    entries add up to (credit-normal: credits less debits), and each
    settlement's figures are its entries' (ledger_settlement_drift)."""
    outcome = CheckOutcome("clearing_settlement", 0)
    accounts = Account.objects.filter(entity=entity, recon_channels__in=Channel.objects.all()).distinct()
    for account in accounts.order_by("pk"):
        outcome.checked_rows += 1
        entries = unsettled_entries([account.pk])
        credits = entries.filter(direction="C").aggregate(t=Sum("amount"))["t"] or ZERO
        debits = entries.filter(direction="D").aggregate(t=Sum("amount"))["t"] or ZERO
        explained = credits - debits
        if account.balance != explained:
            outcome.failures += 1
            outcome.details.append(
                {
                    "account_no": account.account_no,
                    "balance": str(account.balance),
                    "unsettled_entries": str(explained),
                    "difference": str(account.balance - explained),
                    "problem": "the balance is not what its unsettled entries add up to",
                }
            )
    with connection.cursor() as cursor:
        for kind, model in (("merchant", MerchantSettlement), ("channel", ChannelSettlement)):
            rows = model.objects.all()
            if accounting_date is not None:  # the day's settlements (each is checked at its COMMIT too)
                rows = rows.filter(posting__accounting_date=accounting_date)
            for pk in rows.values_list("pk", flat=True):
                outcome.checked_rows += 1
                cursor.execute("SELECT ledger_settlement_drift(%s, %s)", [kind, pk])
                problem = cursor.fetchone()[0]
                if problem:
                    outcome.failures += 1
                    outcome.details.append({"settlement": f"{kind} {pk}", "problem": problem})
    outcome.summary = (
        f"{outcome.failures} clearing accounts or settlements unexplained"
        if outcome.failures
        else f"{accounts.count()} clearing accounts explained by their unsettled entries"
    )
    return outcome


def settlement_checks(*, entity: Entity, accounting_date: date) -> list[CheckOutcome]:
    return [clearing_unexplained(entity=entity, accounting_date=accounting_date)]
