"""Voiding a wrongly imported statement (reports.channel.voiding): one
person asks with a reason, another approves; the statement's lines leave
the matching, the day is matched again, the right file can then be
imported, and it is all in the history.

The day is test_channel_recon_work's: A matched, C long +30, E mismatch
(45 on the statement, 40 booked), F short -60. The imported statement was
the wrong one; the right one has A 100, E 40, F 60.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, InternalError, transaction

from accounts.kernel.errors import IllegalTransition, LedgerValidationError
from accounts.kernel.permissions import NotAllowed
from reports.channel.importing import statement_import
from reports.channel.models import Difference, DifferenceEvent, ReconRun, StatementImport, StatementVoid
from reports.channel.voiding import (
    VoidNotPossible,
    VoidSamePerson,
    statement_void_approve,
    statement_void_reject,
    statement_void_request,
)

from .recon_books import D, epay_file
from .test_channel_recon_work import Day, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def day(ledger):
    day = Day(ledger)
    perm = Permission.objects.get(content_type__app_label="reports", codename="import_statement")
    for user in (day.maker, day.checker):
        user.user_permissions.add(perm)
    day.maker, day.checker = (type(day.maker).objects.get(pk=u.pk) for u in (day.maker, day.checker))
    day.statement = StatementImport.objects.get()
    return day


def outcomes():
    return {
        d.serial_no: (d.outcome, d.status, d.resolution, d.difference) for d in Difference.objects.order_by("serial_no")
    }


def test_a_void_needs_a_reason_and_a_second_person_then_the_day_is_matched_without_its_lines(
    day, ledger, django_capture_on_commit_callbacks
):
    with pytest.raises(LedgerValidationError):
        statement_void_request(statement_id=day.statement.pk, user=day.maker, reason=" ")
    void = statement_void_request(statement_id=day.statement.pk, user=day.maker, reason="the test merchant's file")
    with pytest.raises(IllegalTransition):
        statement_void_request(statement_id=day.statement.pk, user=day.checker, reason="twice")
    with pytest.raises(VoidSamePerson):
        statement_void_approve(void_id=void.pk, user=day.maker)
    with pytest.raises(NotAllowed):
        statement_void_approve(void_id=void.pk, user=staff("clerk", may_work=False))  # no permission
    day.statement.refresh_from_db()
    assert day.statement.voided_at is None

    with django_capture_on_commit_callbacks(execute=True):
        statement_void_approve(void_id=void.pk, user=day.checker, note="checked with the channel")

    day.statement.refresh_from_db()
    assert day.statement.voided_at is not None
    assert StatementVoid.objects.get().status == "approved"
    # The lines are out: C (only on the statement) is closed, E keeps its entry as short, A
    # (matched before) is now short too; nothing on the channel's side is left.
    assert outcomes() == {
        "A": ("short", "open", "", D("-100")),
        "C": ("long", "resolved", "statement_voided", D("30")),
        "E": ("short", "open", "", D("-40")),
        "F": ("short", "open", "", D("-60")),
    }
    run = ReconRun.objects.get()
    assert (run.runs, run.channel_count, run.channel_in, run.matched_count) == (2, 0, D("0"), 0)
    notes = list(DifferenceEvent.objects.filter(note__contains=f"V{void.pk}").values_list("kind", flat=True))
    assert sorted(notes) == ["outcome", "resolved"]

    # The right file for the same day is no longer blocked, and matches.
    right = epay_file(day.day, [("A", "100.00", "0.38"), ("E", "40.00", "0.15"), ("F", "60.00", "0.23")])
    with django_capture_on_commit_callbacks(execute=True):
        statement_import(
            channel=day.channel,
            statement_date=day.day,
            file_name="right.csv",
            content=right,
            imported_by="finance",
            queue_matching=True,
        )
    assert {s: o[1:3] for s, o in outcomes().items()} == {
        "A": ("resolved", "matched_late"),
        "C": ("resolved", "statement_voided"),
        "E": ("resolved", "matched_late"),
        "F": ("resolved", "matched_late"),
    }
    run.refresh_from_db()
    assert (run.statement.file_name, run.channel_count, run.channel_in) == ("right.csv", 3, D("200"))


def test_the_database_allows_a_statement_only_to_be_voided(day):
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        StatementImport.objects.filter(pk=day.statement.pk).update(file_name="edited.csv")
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        StatementImport.objects.filter(pk=day.statement.pk).delete()
    void = statement_void_request(statement_id=day.statement.pk, user=day.maker, reason="wrong")
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        StatementVoid.objects.filter(pk=void.pk).delete()


def test_a_rejected_void_changes_nothing_and_a_statement_whose_lines_were_worked_is_not_voided(day):
    void = statement_void_request(statement_id=day.statement.pk, user=day.maker, reason="wrong?")
    statement_void_reject(void_id=void.pk, user=day.checker, note="it is the right file")
    with pytest.raises(IllegalTransition):
        statement_void_approve(void_id=void.pk, user=day.checker)
    day.statement.refresh_from_db()
    assert day.statement.voided_at is None and Difference.objects.get(serial_no="C").status == "open"

    from reports.channel.work import difference_mark_channel_error

    difference_mark_channel_error(difference_id=day.diff("C").pk, user=day.maker, note="the channel's double")
    again = statement_void_request(statement_id=day.statement.pk, user=day.maker, reason="wrong after all")
    with pytest.raises(VoidNotPossible, match=f"D{day.diff('C').pk}"):
        statement_void_approve(void_id=again.pk, user=day.checker)
