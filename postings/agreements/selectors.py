"""Reads of agreements: one agreement, lists, what a period has taken, and
the posting service's question whether an agreement covers a debit."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum

from accounts.kernel.errors import LedgerError
from postings.exceptions import AgreementLimitExceeded, NoAgreement, UnknownAgreement
from postings.selectors import current_accounting_date

from .models import Agreement, AgreementStatus, DebitAttempt, LimitPeriod


def period_start(limit_period: str, day: date) -> date:
    """The first day of the limit's period ``day`` falls in; weeks start on
    Monday. The database's ledger_agreement_period_start says the same."""
    if limit_period == LimitPeriod.DAY:
        return day
    if limit_period == LimitPeriod.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_taken(*, agreement: Agreement, start: date) -> Decimal:
    """What the agreement's debits took in the period starting ``start``."""
    total = DebitAttempt.objects.filter(agreement=agreement, period_start=start, posting__isnull=False).aggregate(
        total=Sum("amount_taken")
    )["total"]
    return total or Decimal(0)


def agreement_get(*, agreement_id) -> Agreement:
    if isinstance(agreement_id, bool) or not isinstance(agreement_id, int) or not 0 < agreement_id < 2**63:
        raise UnknownAgreement(f"No agreement {agreement_id}.", agreement_id=agreement_id)
    agreement = (
        Agreement.objects.select_related("entity", "payer_account", "payee_account").filter(pk=agreement_id).first()
    )
    if agreement is None:
        raise UnknownAgreement(f"No agreement {agreement_id}.", agreement_id=agreement_id)
    return agreement


def agreements_list():
    return Agreement.objects.select_related("payer_account", "payee_account", "entity").order_by("-id")


def agreement_counts() -> dict[str, int]:
    rows = Agreement.objects.values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def attempts_of(agreement: Agreement):
    return agreement.attempts.select_related("instruction", "posting", "hold").order_by("-id")


def covering_refusal(agreement: Agreement, *, on: date, amount: Decimal) -> LedgerError | None:
    """Why ``agreement`` does not cover a debit of ``amount`` dated ``on``
    (no_agreement, agreement_limit_exceeded), or None. Limits count the
    debits committed so far: the caller holds the agreement's lock."""
    name = f"Agreement A{agreement.pk} ({agreement.agreement_no})"
    if agreement.status != AgreementStatus.ACTIVE:
        return NoAgreement(f"{name} is {agreement.status}.", agreement_id=agreement.pk, status=agreement.status)
    if on < agreement.valid_from or (agreement.valid_to is not None and on > agreement.valid_to):
        return NoAgreement(
            f"{name} is valid from {agreement.valid_from} to {agreement.valid_to or 'open end'}; the day is {on}.",
            agreement_id=agreement.pk,
            accounting_date=on,
        )
    if amount > agreement.max_per_debit:
        return AgreementLimitExceeded(
            f"{name} allows {agreement.money(agreement.max_per_debit)} per debit; {agreement.money(amount)} asked.",
            agreement_id=agreement.pk,
            max_per_debit=agreement.max_per_debit,
        )
    start = period_start(agreement.limit_period, on)
    left = agreement.max_per_period - period_taken(agreement=agreement, start=start)
    if amount > left:
        return AgreementLimitExceeded(
            f"{name} allows {agreement.money(agreement.max_per_period)} {agreement.limit_period}ly "
            f"(from {start}); {agreement.money(max(left, Decimal(0)))} is left, {agreement.money(amount)} asked.",
            agreement_id=agreement.pk,
            period_start=start,
            left=max(left, Decimal(0)),
        )
    return None


def agreement_debit_refusal(*, payer, legs, amount: Decimal, accounting_date: date | None = None) -> LedgerError | None:
    """The posting service's question (postings.services.holds.agreement_debit_cover):
    does an active agreement of ``payer`` to the settlement's one counter
    account cover ``amount`` on the posting's day (the open day unless a
    back-dated one is asked)? The first that does answers None; else the
    refusal of the first one that names them."""
    credits = {leg.account_no for leg in legs[1:]}
    if len(credits) != 1:
        return NoAgreement("An agreement debit pays one payee account.", account_no=payer.account_no)
    (payee_no,) = credits
    on = accounting_date or current_accounting_date(entity=payer.entity)
    candidates = Agreement.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=on),
        payer_account=payer,
        payee_account__account_no=payee_no,
        status=AgreementStatus.ACTIVE,
        valid_from__lte=on,
    ).order_by("id")
    refusals = []
    for agreement in candidates:
        refusal = covering_refusal(agreement, on=on, amount=amount)
        if refusal is None:
            return None
        refusals.append(refusal)
    if refusals:
        return refusals[0]
    return NoAgreement(
        f"No active agreement lets {payee_no} debit {payer.account_no} on {on}.",
        payer_account_no=payer.account_no,
        payee_account_no=payee_no,
    )
