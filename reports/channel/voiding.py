"""Voiding a wrongly imported statement (对账单作废), maker-checker.

A statement imported for the wrong day or channel cannot be edited or
deleted (PostgreSQL refuses it). It is voided instead: one member of staff
asks, with a reason (``statement_void_request``); another approves
(``statement_void_approve``) or rejects it. Approval, in one transaction:

- sets the statement's ``voided_at`` (the one change the database allows on
  it); its lines stay, out of matching. The channel and day, and the file,
  are free again: the right statement can be imported.
- the day's unresolved differences that hold one of its lines let go of
  it: a long (only the line) is resolved as ``statement_voided``; an amount
  mismatch keeps its entry and becomes short (the line was never the
  channel's word). Each change is an event in the difference's history.
- the day's matching is queued to run again on commit (without the lines).

Refused when a difference holding one of its lines was resolved by staff
(an adjusting posting, a write-off, a channel error) or matched late for
another day: undoing those is a decision of its own, not a side effect.

Lock order: the void row, then the statement's differences in id order.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.kernel.errors import IllegalTransition, LedgerError, LedgerValidationError
from accounts.kernel.permissions import require_permission
from accounts.kernel.tasks import enqueue_on_commit

from .models import (
    Difference,
    DifferenceEvent,
    DifferenceStatus,
    Outcome,
    Resolution,
    StatementImport,
    StatementVoid,
    VoidStatus,
)

PERM_VOID = "reports.import_statement"


class VoidSamePerson(LedgerError):
    code = "same_person"
    http_status = 403
    default_message = "A void must be approved by someone other than the person who asked for it."


class VoidNotPossible(LedgerValidationError):
    code = "statement_void_refused"


def _require(user) -> None:
    require_permission(user, PERM_VOID, doing="void statements")


def statement_void_request(*, statement_id: int, user: AbstractBaseUser, reason: str) -> StatementVoid:
    _require(user)
    reason = (reason or "").strip()
    if not reason:
        raise LedgerValidationError("A void needs a reason.", field="reason")
    with transaction.atomic(durable=True):
        statement = StatementImport.objects.select_for_update(no_key=True).filter(pk=statement_id).first()
        if statement is None:
            raise VoidNotPossible(f"No statement #{statement_id}.", statement_id=statement_id)
        if statement.voided_at is not None:
            raise IllegalTransition(f"Statement #{statement.pk} is already void.", statement_id=statement.pk)
        if statement.voids.filter(status=VoidStatus.REQUESTED).exists():
            raise IllegalTransition(
                f"Statement #{statement.pk} already has a void awaiting approval.", statement_id=statement.pk
            )
        return StatementVoid.objects.create(statement=statement, reason=reason, requested_by=user)


def _locked(void_id: int) -> StatementVoid:
    void = (
        StatementVoid.objects.select_for_update(no_key=True, of=("self",))
        .select_related("statement", "statement__channel")
        .filter(pk=void_id)
        .first()
    )
    if void is None:
        raise VoidNotPossible(f"No void request V{void_id}.", void_id=void_id)
    if void.status != VoidStatus.REQUESTED:
        raise IllegalTransition(f"V{void.pk} is already {void.status}.", void_id=void.pk, status=void.status)
    return void


def statement_void_reject(*, void_id: int, user: AbstractBaseUser, note: str) -> StatementVoid:
    """Rejected by another, or withdrawn by the person who asked."""
    _require(user)
    with transaction.atomic(durable=True):
        void = _locked(void_id)
        void.status, void.decided_at, void.decision_note = VoidStatus.REJECTED, timezone.now(), note.strip()
        void.decided_by = None if void.requested_by_id == user.pk else user
        void.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return void


def statement_void_approve(*, void_id: int, user: AbstractBaseUser, note: str = "") -> StatementVoid:
    _require(user)
    with transaction.atomic(durable=True):
        void = _locked(void_id)
        if void.requested_by_id == user.pk:
            raise VoidSamePerson(void_id=void.pk)
        statement = void.statement
        actor = user.get_username()
        held = Difference.objects.filter(statement_line__statement=statement)
        blocking = list(
            held.filter(
                Q(status=DifferenceStatus.RESOLVED) & ~Q(resolution=Resolution.MATCHED_LATE)
                | Q(status=DifferenceStatus.RESOLVED, resolution=Resolution.MATCHED_LATE)
                & ~Q(recon_date=statement.statement_date)
            ).values_list("pk", flat=True)[:10]
        )
        if blocking:
            raise VoidNotPossible(
                f"Statement #{statement.pk} cannot be voided: its lines resolved "
                + ", ".join(f"D{pk}" for pk in blocking)
                + "; undo those first.",
                differences=blocking,
            )
        now = timezone.now()
        StatementImport.objects.filter(pk=statement.pk).update(voided_at=now)
        why = f"statement #{statement.pk} voided (V{void.pk}): {void.reason}"
        events = []
        for diff in held.exclude(status=DifferenceStatus.RESOLVED).select_for_update(no_key=True).order_by("id"):
            if diff.entry_id is None:
                diff.status, diff.resolution = DifferenceStatus.RESOLVED, Resolution.STATEMENT_VOIDED
                diff.resolved_at, diff.resolved_by = now, actor
                events.append(
                    DifferenceEvent(
                        difference=diff,
                        kind=DifferenceEvent.Kind.RESOLVED,
                        to_value=Resolution.STATEMENT_VOIDED,
                        note=why,
                        actor=actor,
                    )
                )
            else:
                events.append(
                    DifferenceEvent(
                        difference=diff,
                        kind=DifferenceEvent.Kind.OUTCOME,
                        from_value=diff.outcome,
                        to_value=Outcome.SHORT,
                        note=why,
                        actor=actor,
                    )
                )
                diff.outcome = Outcome.SHORT
                diff.difference = -(diff.ledger_amount if diff.ledger_direction == "in" else -diff.ledger_amount)
            diff.statement_line, diff.channel_direction, diff.channel_amount = (
                (diff.statement_line, diff.channel_direction, diff.channel_amount)
                if diff.entry_id is None
                else (None, "", None)
            )
            diff.save()
        DifferenceEvent.objects.bulk_create(events)
        void.status, void.decided_by, void.decided_at, void.decision_note = (
            VoidStatus.APPROVED,
            user,
            now,
            note.strip(),
        )
        void.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        enqueue_on_commit(
            "reports.tasks.channel_recon_run", statement.channel.code, statement.statement_date.isoformat()
        )
    return void
