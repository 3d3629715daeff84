"""Red-ink corrections (红冲 + 蓝字, issue 22 section 3), worked by hand.

Alice recharged 500.00 through the channel; the bank's slip says it was
50.00 and for Bob. Finance proposes the correction (Dr channel 50 / Cr Bob
50), a second person approves it, and in one transaction the ledger books

    red  (recharge, reverses P): Cr channel 500 / Dr Alice 500
    blue (recharge):             Dr channel 50  / Cr Bob 50

after which every balance is what a ledger holding only the blue posting
holds (Alice 0, Bob 50, channel -50 on its credit-normal side).
"""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission

from accounts.kernel.errors import IdempotencyConflict, IllegalTransition, LedgerValidationError, NotAllowed
from accounts.models import Entity
from postings.exceptions import AlreadyReversed, CorrectionNotAllowed, CorrectionSamePerson, ReversalNotAllowed
from postings.models import Correction, CorrectionStatus, Entry, Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import (
    correction_approve,
    correction_propose,
    correction_reject,
    posting_reverse,
    refund_create,
)
from tests.reports.reporting import staff_user

from .refund_books import ensure_refund_roles

pytestmark = pytest.mark.django_db
D = Decimal


def ensure_correction_roles() -> None:
    ensure_refund_roles()
    grants = importlib.import_module("postings.migrations.0023_red_ink_corrections").GRANTS
    for group_name, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="postings", codename__in=codenames))


@pytest.fixture
def books(ledger):
    ensure_correction_roles()
    alice, bob = ledger.cash(ledger.member("Alice")), ledger.cash(ledger.member("Bob"))
    wrong = ledger.recharge(alice, "500.00", request_no="slip-1")
    maker, checker = staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff")
    return {"alice": alice, "bob": bob, "channel": ledger.channel(), "wrong": wrong, "maker": maker, "checker": checker}


def corrected_legs(b):
    return [(b["channel"].account_no, "D", "50.00"), (b["bob"].account_no, "C", "50.00")]


def propose(b, request_no="c-1", **kw):
    return correction_propose(
        serial_no=b["wrong"].serial_no,
        legs=kw.pop("legs", corrected_legs(b)),
        reason="bank slip says 50.00 for Bob",
        request_no=request_no,
        acting_user=kw.pop("user", b["maker"]),
    )


def entries(posting) -> list[tuple]:
    return sorted(
        (e.account.account_no, e.direction, e.amount, e.business_type)
        for e in Entry.objects.filter(posting=posting).select_related("account")
    )


def test_a_correction_books_red_and_blue_and_leaves_the_corrected_balances(books, ledger):
    proposal = propose(books)
    assert proposal.status == CorrectionStatus.PROPOSED
    assert ledger.balance(books["alice"]) == D("500.00")  # nothing moves on a proposal

    done = correction_approve(correction_id=proposal.pk, acting_user=books["checker"], note="checked the slip")
    red, blue, wrong = done.red_posting, done.blue_posting, books["wrong"]
    assert done.status == CorrectionStatus.BOOKED and done.decided_by == books["checker"]
    # Red: the original's business type, reverses it, every entry mirrored.
    assert (red.business_type, red.reverses_id, red.currency) == ("recharge", wrong.serial_no, "CNY")
    ch, al, bo = books["channel"].account_no, books["alice"].account_no, books["bob"].account_no
    assert entries(red) == sorted([(ch, "C", D("500.00"), "recharge"), (al, "D", D("500.00"), "recharge")])
    assert (blue.business_type, blue.reverses_id) == ("recharge", None)
    assert entries(blue) == sorted([(ch, "D", D("50.00"), "recharge"), (bo, "C", D("50.00"), "recharge")])
    assert red.accounting_date == blue.accounting_date

    corrected = {k: ledger.balance(books[k]) for k in ("alice", "bob", "channel")}
    # A twin ledger (its own entity) where only the corrected posting was booked.
    twin = Entity.objects.create(code="TWIN", name="twin books", base_currency="CNY")
    twin_alice, twin_bob = ledger.cash(entity=twin), ledger.cash(entity=twin)
    ledger.recharge(twin_bob, "50.00")
    twin_channel = ledger.channel(entity=twin)
    assert corrected == {
        "alice": ledger.balance(twin_alice),
        "bob": ledger.balance(twin_bob),
        "channel": ledger.balance(twin_channel),
    }
    assert corrected == {"alice": D("0"), "bob": D("50"), "channel": D("-50")}
    assert all(t.holds for t in identity_totals())
    for account in ("alice", "bob", "channel"):
        assert account_chain_breaks(account=ledger.fresh(books[account])) == []


def test_the_proposer_cannot_approve_and_nothing_moves(books, ledger):
    proposal = propose(books)
    with pytest.raises(CorrectionSamePerson):
        correction_approve(correction_id=proposal.pk, acting_user=books["maker"])
    assert Correction.objects.get(pk=proposal.pk).status == CorrectionStatus.PROPOSED
    assert ledger.balance(books["alice"]) == D("500.00")
    assert not Posting.objects.filter(reverses=books["wrong"]).exists()


def test_double_submits_propose_once_and_book_once(books):
    first, again = propose(books), propose(books)
    assert again.pk == first.pk and again.replayed
    with pytest.raises(IdempotencyConflict):
        propose(books, legs=[(books["channel"].account_no, "D", "60.00"), (books["bob"].account_no, "C", "60.00")])
    booked = correction_approve(correction_id=first.pk, acting_user=books["checker"])
    replay = correction_approve(correction_id=first.pk, acting_user=books["checker"])
    assert replay.replayed and replay.red_posting_id == booked.red_posting_id
    assert Posting.objects.filter(business_type="recharge").count() == 3  # the original, red and blue


def test_a_second_correction_and_a_reversal_of_a_corrected_posting_are_refused(books):
    correction_approve(correction_id=propose(books).pk, acting_user=books["checker"])
    with pytest.raises(CorrectionNotAllowed):
        propose(books, request_no="c-2")
    with pytest.raises(AlreadyReversed):
        posting_reverse(serial_no=books["wrong"].serial_no, request_no="rev-1", posted_by="ops")


def test_what_cannot_be_corrected(books, ledger):
    # A pending proposal blocks a second one; a reversed, refunded, reversal or red posting is refused.
    propose(books)
    with pytest.raises(CorrectionNotAllowed, match="awaits a decision"):
        propose(books, request_no="c-2")

    other = ledger.recharge(books["alice"], "20.00")
    reversal = posting_reverse(serial_no=other.serial_no, request_no="rev-1", posted_by="ops")
    for serial in (other.serial_no, reversal.serial_no):
        with pytest.raises(CorrectionNotAllowed):
            correction_propose(
                serial_no=serial,
                legs=corrected_legs(books),
                reason="x",
                request_no=f"c-{serial}",
                acting_user=books["maker"],
            )
    paid = ledger.recharge(books["bob"], "30.00")
    refund_create(serial_no=paid.serial_no, request_no="rf-1", amount="10.00", requested_by="trade")
    with pytest.raises(CorrectionNotAllowed, match="refunded"):
        correction_propose(
            serial_no=paid.serial_no,
            legs=corrected_legs(books),
            reason="x",
            request_no="c-p",
            acting_user=books["maker"],
        )


def test_a_red_posting_is_never_corrected(books):
    red = correction_approve(correction_id=propose(books).pk, acting_user=books["checker"]).red_posting
    with pytest.raises(CorrectionNotAllowed, match="undoes"):
        correction_propose(
            serial_no=red.serial_no,
            legs=corrected_legs(books),
            reason="x",
            request_no="c-r",
            acting_user=books["maker"],
        )
    with pytest.raises(ReversalNotAllowed, match="red posting"):
        posting_reverse(serial_no=red.serial_no, request_no="rev-red", posted_by="ops")


def test_bad_legs_are_refused_whole(books):
    b = books
    cases = [
        [(b["channel"].account_no, "D", "50.00"), (b["bob"].account_no, "C", "40.00")],  # unbalanced
        [(b["channel"].account_no, "D", "50.00")],  # one leg
        [(b["channel"].account_no, "D", "-5"), (b["bob"].account_no, "C", "-5")],  # negative
        [(b["channel"].account_no, "D", "500.00"), (b["alice"].account_no, "C", "500.00")],  # the original again
        [("NOPE", "D", "1.00"), (b["bob"].account_no, "C", "1.00")],  # unknown account
    ]
    for i, legs in enumerate(cases):
        with pytest.raises(LedgerValidationError):
            propose(b, request_no=f"bad-{i}", legs=legs)
    with pytest.raises(LedgerValidationError):
        correction_propose(
            serial_no=b["wrong"].serial_no, legs=corrected_legs(b), reason=" ", request_no="r", acting_user=b["maker"]
        )
    assert not Correction.objects.exists()


def test_reject_then_propose_again(books):
    first = propose(books)
    with pytest.raises(LedgerValidationError):
        correction_reject(correction_id=first.pk, acting_user=books["checker"], note="")
    correction_reject(correction_id=first.pk, acting_user=books["checker"], note="wrong account")
    with pytest.raises(IllegalTransition):
        correction_approve(correction_id=first.pk, acting_user=books["checker"])
    second = propose(books, request_no="c-2")
    assert correction_approve(correction_id=second.pk, acting_user=books["checker"]).status == "booked"


@pytest.mark.parametrize("role", ["Auditor", "Ledger admin", "Reviewer", "Cashier", None])
def test_only_finance_staff_propose_and_approve(role, books):
    user = staff_user(f"u-{role}", role)
    with pytest.raises(NotAllowed):
        propose(books, user=user)
    proposal = propose(books, request_no="c-ok")
    with pytest.raises(NotAllowed):
        correction_approve(correction_id=proposal.pk, acting_user=user)
    with pytest.raises(NotAllowed):
        correction_reject(correction_id=proposal.pk, acting_user=user, note="no")
    assert Correction.objects.get(pk=proposal.pk).status == CorrectionStatus.PROPOSED
