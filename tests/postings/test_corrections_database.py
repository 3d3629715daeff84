"""What the database refuses about red-ink corrections
(postings/sql/corrections.sql), committed as the runtime role: a second
correction of one posting, a red posting that does not mirror its original,
a posting claiming to undo another outside a correction, a decided
correction changed; and two checkers approving at once book once."""

from __future__ import annotations

import psycopg
import pytest
from django.db.models import Max

from postings.models import Correction, CorrectionStatus, Entry, Posting
from postings.services import correction_approve, correction_propose
from tests.reports.reporting import staff_user

from .test_concurrency import run_parallel
from .test_corrections import ensure_correction_roles

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def books(ledger):
    ensure_correction_roles()
    alice, bob = ledger.cash(ledger.member("Alice")), ledger.cash(ledger.member("Bob"))
    wrong = ledger.recharge(alice, "100.00", request_no="slip-1")
    maker, checker = staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff")
    proposal = correction_propose(
        serial_no=wrong.serial_no,
        legs=[(ledger.channel().account_no, "D", "10.00"), (bob.account_no, "C", "10.00")],
        reason="slip",
        request_no="c-1",
        acting_user=maker,
    )
    return {
        "alice": alice,
        "bob": bob,
        "channel": ledger.channel(),
        "wrong": wrong,
        "maker": maker,
        "checker": checker,
        "proposal": proposal,
    }


def refused(run, sql, params, match):
    with pytest.raises(psycopg.errors.DatabaseError, match=match):
        run(sql, params)


FORGED_CORRECTION = (
    "INSERT INTO postings_correction (original_id, red_posting_id, blue_posting_id, status, legs, reason,"
    " source_system, request_no, fingerprint, proposed_by_id, decided_by_id, decided_at, decision_note, created_at)"
    " VALUES (%s, %s, %s, %s, '[]', 'forged', 'forger', %s, 'x', %s, %s, now(), '', now())"
)


def test_a_second_correction_of_one_posting_is_refused(runtime_sql, books):
    b = books
    correction_approve(correction_id=b["proposal"].pk, acting_user=b["checker"])
    refused(
        runtime_sql,
        FORGED_CORRECTION,
        [b["wrong"].serial_no, None, None, "proposed", "f-1", b["maker"].pk, None],
        "correction_one_live_per_posting",
    )
    assert Correction.objects.filter(original=b["wrong"]).count() == 1


def test_a_decided_correction_never_changes(runtime_sql, books, ledger):
    b = books
    booked = correction_approve(correction_id=b["proposal"].pk, acting_user=b["checker"])
    other = ledger.recharge(b["bob"], "5.00")
    for sql, params in (
        ("UPDATE postings_correction SET blue_posting_id = %s WHERE id = %s", [other.serial_no, booked.pk]),
        ("UPDATE postings_correction SET status = 'rejected' WHERE id = %s", [booked.pk]),
        ("DELETE FROM postings_correction WHERE id = %s", [booked.pk]),
    ):
        refused(runtime_sql, sql, params, "decided once and never changed")
    assert Correction.objects.get(pk=booked.pk).blue_posting_id == booked.blue_posting_id


def _next_seq(account) -> int:
    return (Entry.objects.filter(account=account).aggregate(m=Max("account_seq"))["m"] or 0) + 1


def _balance_after(account, seq):
    return Entry.objects.get(account=account, account_seq=seq - 1).balance_after


def forge_red(run, b, amount, *, blue=None):
    """In one transaction as the runtime role: a posting in the original's
    business type reversing it with ``amount`` taken back on each leg
    (chained properly), and, given ``blue``, a booked correction naming it."""
    channel, alice, wrong = b["channel"], b["alice"], b["wrong"]
    cs, as_ = _next_seq(channel), _next_seq(alice)
    cb, ab = _balance_after(channel, cs), _balance_after(alice, as_)
    conn = run.connection
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id,"
            " currency, accounting_date, memo, external_ref, posted_by, reverses_id, created_at)"
            " VALUES ('forger', 'red-2', 'x', 'recharge', %s, 'CNY', %s, '', '', 'forger', %s, now())"
            " RETURNING serial_no",
            [wrong.entity_id, wrong.accounting_date, wrong.serial_no],
        )
        (red,) = cur.fetchone()
        cur.execute(
            "INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency,"
            " balance_before, balance_after, frozen_before, frozen_after, business_type, accounting_date,"
            " created_at) VALUES"
            " (%s, %s, %s, 'C', %s, 'CNY', %s, %s, 0, 0, 'recharge', %s, now()),"
            " (%s, %s, %s, 'D', %s, 'CNY', %s, %s, 0, 0, 'recharge', %s, now())",
            [
                *[red, channel.pk, cs, amount, cb, cb + amount, wrong.accounting_date],
                *[red, alice.pk, as_, amount, ab, ab - amount, wrong.accounting_date],
            ],
        )
        if blue is not None:
            cur.execute(
                FORGED_CORRECTION,
                [wrong.serial_no, red, blue.serial_no, "booked", "f-2", b["maker"].pk, b["checker"].pk],
            )


def test_a_posting_undoing_another_outside_a_correction_is_refused(runtime_sql, books):
    """Entries mirroring the original exactly, but no booked correction: refused at COMMIT."""
    with pytest.raises(psycopg.errors.DatabaseError, match="neither a reversal nor the red posting"):
        forge_red(runtime_sql, books, 100)
    assert not Posting.objects.filter(source_system="forger").exists()


def test_a_red_posting_that_does_not_mirror_its_original_is_refused(runtime_sql, books, ledger):
    """A forged booked correction whose red posting takes back 90.00 of a 100.00 recharge: refused at COMMIT."""
    b = books
    blue = ledger.recharge(b["bob"], "10.00")
    Correction.objects.filter(pk=b["proposal"].pk).update(status="rejected", decided_by=b["checker"])
    with pytest.raises(psycopg.errors.DatabaseError, match="do not mirror"):
        forge_red(runtime_sql, b, 90, blue=blue)
    assert not Posting.objects.filter(source_system="forger").exists()
    assert not Posting.objects.filter(reverses=b["wrong"]).exists()


def test_two_checkers_approving_at_once_book_once(books, ledger):
    b = books
    checkers = [b["checker"], staff_user("checker2", "Finance staff")]

    def work(i):
        return correction_approve(correction_id=b["proposal"].pk, acting_user=checkers[i]).red_posting_id

    reds = run_parallel(2, work)
    assert len(set(reds)) == 1
    assert Posting.objects.filter(reverses=b["wrong"]).count() == 1
    assert Correction.objects.get(pk=b["proposal"].pk).status == CorrectionStatus.BOOKED
    assert ledger.balance(b["alice"]) == 0
