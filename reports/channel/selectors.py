"""Reads of channel reconciliation (渠道对账): run summaries, differences and
the ledger records of a channel's day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Abs

from postings.models import Entry

from .models import (
    Channel,
    Difference,
    DifferenceEvent,
    DifferenceProposal,
    DifferenceStatus,
    ProposalStatus,
    ReconRun,
    StatementImport,
)

SUMMARY_FIELDS = (
    "channel_count",
    "channel_in",
    "channel_out",
    "channel_skipped_count",
    "ledger_count",
    "ledger_in",
    "ledger_out",
    "fee_charged",
    "fee_expected",
    "matched_count",
    "matched_amount",
    "late_matched_count",
    "late_matched_amount",
    "long_count",
    "long_amount",
    "short_count",
    "short_amount",
    "mismatch_count",
    "mismatch_amount",
    "pending_count",
    "pending_amount",
)


def recon_summary(run: ReconRun) -> dict:
    """A run's figures as plain values (amounts as strings), for the task result and exports."""
    summary = {"channel": run.channel.code, "recon_date": run.recon_date.isoformat()}
    for name in SUMMARY_FIELDS:
        value = getattr(run, name)
        summary[name] = value if isinstance(value, int) else f"{value:.2f}"
    return summary


def recon_runs(*, channel: Channel | None = None) -> QuerySet[ReconRun]:
    qs = ReconRun.objects.select_related("channel", "statement")
    return qs.filter(channel=channel) if channel else qs


def differences(
    *, channel: Channel | None = None, recon_date: date | None = None, open_only: bool = False
) -> QuerySet[Difference]:
    qs = Difference.objects.select_related("channel", "statement_line", "owner", "posting")
    if channel is not None:
        qs = qs.filter(channel=channel)
    if recon_date is not None:
        qs = qs.filter(recon_date=recon_date)
    if open_only:
        qs = qs.exclude(status=DifferenceStatus.RESOLVED)
    return qs.order_by("recon_date", "id")


UNRESOLVED = "unresolved"


def differences_where(
    qs: QuerySet[Difference] | None = None,
    *,
    channel: str = "",
    date_from: str = "",
    date_to: str = "",
    outcome: str = "",
    status: str = "",
    owner: str | None = "",
    amount_min: str = "",
    amount_max: str = "",
    serial_no: str = "",
) -> QuerySet[Difference]:
    """The differences matching the criteria of the differences page, written
    as plain values (codes, ISO dates, amounts as text; ``owner`` None for
    "nobody", "" for anyone), so that the page's filter and an export task
    running later elsewhere select the same rows. Empty means "any"."""
    qs = differences() if qs is None else qs
    if channel:
        qs = qs.filter(channel__code=channel)
    if date_from:
        qs = qs.filter(recon_date__gte=date.fromisoformat(date_from))
    if date_to:
        qs = qs.filter(recon_date__lte=date.fromisoformat(date_to))
    if outcome:
        qs = qs.filter(outcome=outcome)
    if status == UNRESOLVED:
        qs = qs.exclude(status=DifferenceStatus.RESOLVED)
    elif status:
        qs = qs.filter(status=status)
    if owner is None:
        qs = qs.filter(owner__isnull=True)
    elif owner:
        qs = qs.filter(owner__username=owner)
    if amount_min != "":
        qs = qs.alias(size=Abs("difference")).filter(size__gte=Decimal(amount_min))
    if amount_max != "":
        qs = qs.alias(size=Abs("difference")).filter(size__lte=Decimal(amount_max))
    if serial_no:
        qs = qs.filter(serial_no__icontains=serial_no)
    return qs


def ledger_records(*, channel: Channel, recon_date: date) -> QuerySet[Entry]:
    """Our side of a channel's day: entries on its clearing accounts, with the posting (external_ref)."""
    return (
        Entry.objects.filter(
            account__in=channel.clearing_accounts.all(), accounting_date=recon_date, currency=channel.currency
        )
        .select_related("posting")
        .order_by("serial_no")
    )


def difference_get(*, difference_id: int) -> Difference:
    return Difference.objects.select_related(
        "channel", "statement_line", "entry", "posting", "resolution_posting", "owner"
    ).get(pk=difference_id)


def difference_history(*, difference: Difference) -> QuerySet[DifferenceEvent]:
    """Every step of the difference, oldest first (who, when, from/to, note)."""
    return DifferenceEvent.objects.filter(difference=difference).order_by("id")


def difference_proposals(*, difference: Difference) -> QuerySet[DifferenceProposal]:
    return (
        DifferenceProposal.objects.filter(difference=difference)
        .select_related("clearing_account", "counter_account", "proposed_by", "decided_by", "posting")
        .order_by("id")
    )


def proposals_awaiting_approval(*, channel: Channel | None = None, checker=None) -> QuerySet[DifferenceProposal]:
    """Proposals awaiting a decision; with ``checker``, only those that user
    may approve (not their own: maker-checker)."""
    qs = DifferenceProposal.objects.filter(status=ProposalStatus.PROPOSED).select_related(
        "difference__channel", "clearing_account", "counter_account", "proposed_by"
    )
    if channel is not None:
        qs = qs.filter(difference__channel=channel)
    if checker is not None:
        qs = qs.exclude(proposed_by=checker)
    return qs.order_by("proposed_at", "id")


def statements_unmatched(*, channel: Channel | None = None) -> QuerySet[StatementImport]:
    """Imported statements whose day has not been matched yet (queued, or the
    matching was refused, e.g. the channel has no clearing account)."""
    qs = (
        StatementImport.objects.select_related("channel")
        .filter(voided_at__isnull=True)
        .exclude(Exists(ReconRun.objects.filter(statement=OuterRef("pk"))))
    )
    return qs.filter(channel=channel) if channel else qs


def difference_totals(rows: QuerySet[Difference]) -> list[dict]:
    """Per currency: how many differences, their net (channel minus ledger) and absolute amount."""
    return list(
        rows.order_by()
        .values("currency")
        .annotate(n=Count("id"), net=Sum("difference"), gross=Sum(Abs("difference")))
        .order_by("currency")
    )


def difference_postings(*, difference: Difference) -> list[dict]:
    """Our side of a difference: the posting behind its ledger record and the
    posting that resolved it, each with its legs (entry, account, side, amount)."""
    shown = []
    for label, posting in (("ledger record", difference.posting), ("resolution", difference.resolution_posting)):
        if posting is None:
            continue
        legs = Entry.objects.filter(posting=posting).select_related("account").order_by("serial_no")
        shown.append({"label": label, "posting": posting, "legs": list(legs)})
    return shown


def difference_workers() -> QuerySet:
    """Active users who may work differences (the owner choices)."""
    User = get_user_model()
    perm = Permission.objects.filter(content_type__app_label="reports", codename="work_difference")
    return (
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(user_permissions__in=perm) | Q(groups__permissions__in=perm))
        .distinct()
        .order_by("username")
    )


def statement_voids(*, statement_ids=None) -> QuerySet:
    """Void requests, newest first, with their statement and people."""
    from .models import StatementVoid

    qs = StatementVoid.objects.select_related("statement", "statement__channel", "requested_by", "decided_by")
    return qs.filter(statement_id__in=statement_ids) if statement_ids is not None else qs
