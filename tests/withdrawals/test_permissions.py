"""Who may do what. The services check the permission themselves (the pages,
the admin and any API call the same functions), so the whole matrix is
tried here: each role against each staff action.

Finance staff take requests (by phone), reviewers approve and reject,
cashiers pay and cancel; auditors and ledger admins only look. A user in no
group may do nothing, and an inactive user nothing at all, whatever groups
they are still in. On top of the permissions: maker-checker (nobody
approves what they asked for), and the history and approvals are
append-only in the database itself.
"""

import pytest
from django.db import DatabaseError, transaction

from withdrawals.exceptions import NotAllowed, SegregationOfDuties
from withdrawals.models import Approval, Status, WithdrawalEvent
from withdrawals.services import (
    payout_cancel,
    payout_send,
    payout_send_batch,
    withdrawal_approve,
    withdrawal_auto_review,
    withdrawal_reject,
    withdrawals_approve_bulk,
)

from .books import state
from .conftest import ROLES, staff

pytestmark = pytest.mark.django_db

NO_GROUP, INACTIVE = "no group", "inactive (in every group)"
USERS = [*ROLES, NO_GROUP, INACTIVE]

# action -> the one role allowed to do it, and the status it leads to
ACTIONS = {
    "request": ("Finance staff", Status.REQUESTED),
    "approve": ("Reviewer", Status.APPROVED),
    "reject": ("Reviewer", Status.REJECTED),
    "bulk approve": ("Reviewer", Status.APPROVED),
    "send": ("Cashier", Status.PAYING),
    "send batch": ("Cashier", Status.PAYING),
    "cancel": ("Cashier", Status.CANCELLED),
}


def user_for(desk, who):
    if who == NO_GROUP:
        return staff("nobody")
    if who == INACTIVE:
        user = staff("gone", *ROLES)
        user.is_active = False
        user.save()
        return user
    return desk.user(who)


def in_review(desk, **kw):
    w = desk.request(**kw)
    withdrawal_auto_review(withdrawal_id=w.id)  # the new-card rule fires
    w = desk.fresh(w)
    assert w.status == Status.IN_REVIEW
    return w


def ready_for(action, desk):
    """A withdrawal in the state the action applies to (prepared by other staff)."""
    if action == "request":
        return None
    w = in_review(desk)
    if action in {"send", "send batch", "cancel"}:
        withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer", "Setup reviewer"))
    return desk.fresh(w)


def perform(action, desk, user, w):
    """Do the action; return the withdrawal it made or moved."""
    if action == "request":
        return desk.request(created_by=user)
    if action == "approve":
        return withdrawal_approve(withdrawal_id=w.id, user=user)
    if action == "reject":
        return withdrawal_reject(withdrawal_id=w.id, user=user, reason="holder name differs")
    if action == "bulk approve":
        result = withdrawals_approve_bulk(withdrawal_ids=[w.id], user=user)
        assert (result.done, result.refused) == ([w.id], {})
        return w
    if action == "send":
        return payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=user).withdrawal
    if action == "send batch":
        result = payout_send_batch(withdrawal_ids=[w.id], bank=desk.bank_a, user=user)
        assert ([i.withdrawal_id for i in result.sent], result.refused) == ([w.id], {})
        return w
    if action == "cancel":
        return payout_cancel(withdrawal_id=w.id, user=user, reason="member asked")
    raise AssertionError(action)


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("who", USERS)
def test_role_matrix(desk, who, action):
    allowed_role, leads_to = ACTIONS[action]
    w = ready_for(action, desk)
    user = user_for(desk, who)
    if who == allowed_role:
        done = desk.fresh(perform(action, desk, user, w))
        assert done.status == leads_to
        assert done.events.last().actor == user.username
        if action == "request":
            assert done.created_by == user
        return
    before = state()
    with pytest.raises(NotAllowed) as refused:
        perform(action, desk, user, w)
    assert (refused.value.code, refused.value.http_status) == ("forbidden", 403)
    assert state() == before


def test_a_reviewer_cannot_approve_a_request_they_took(desk):
    """Wang is in finance staff and a reviewer: she may take Alice's request
    by phone, and review others' requests, but not approve her own."""
    wang = staff("wang", "Finance staff", "Reviewer")
    w = in_review(desk, created_by=wang)
    assert w.created_by == wang
    before = state()
    with pytest.raises(SegregationOfDuties) as refused:
        withdrawal_approve(withdrawal_id=w.id, user=wang)
    assert (refused.value.code, refused.value.http_status) == ("segregation_of_duties", 403)
    assert state() == before

    result = withdrawals_approve_bulk(withdrawal_ids=[w.id], user=wang)
    assert result.done == [] and w.id in result.refused
    assert state() == before

    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))  # someone else may
    assert desk.fresh(w).status == Status.APPROVED


def test_the_requester_gives_neither_of_two_approvals(desk, ledger):
    ledger.recharge(desk.member_account, "100000")
    wang = staff("wang", "Finance staff", "Reviewer")
    w = in_review(desk, amount="60000.00", created_by=wang)
    assert w.approvals_required == 2
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer", "Reviewer Li"))
    with pytest.raises(SegregationOfDuties):
        withdrawal_approve(withdrawal_id=w.id, user=wang)
    assert desk.fresh(w).status == Status.IN_REVIEW
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer", "Reviewer Zhao"))
    assert desk.fresh(w).status == Status.APPROVED


def test_a_cashier_cannot_approve(desk):
    w = in_review(desk)
    cashier = desk.user("Cashier")
    before = state()
    with pytest.raises(NotAllowed):
        withdrawal_approve(withdrawal_id=w.id, user=cashier)
    with pytest.raises(NotAllowed):
        withdrawals_approve_bulk(withdrawal_ids=[w.id], user=cashier)
    assert state() == before


def test_anonymous_is_refused(desk):
    w = in_review(desk)
    with pytest.raises(NotAllowed):
        withdrawal_approve(withdrawal_id=w.id, user=None)


@pytest.fixture
def written(desk):
    """A withdrawal with history and an approval on record."""
    w = in_review(desk)
    withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"), reason="looks fine")
    return desk.fresh(w)


def refused_by_the_database(fn):
    with pytest.raises(DatabaseError) as err, transaction.atomic():
        fn()
    assert "withdrawal_event_append_only" in str(err.value) or "approval_append_only" in str(err.value)


def test_nobody_can_edit_or_delete_history(written):
    rows = list(WithdrawalEvent.objects.filter(withdrawal=written).values_list("id", "to_status", "actor", "reason"))
    assert len(rows) == 3
    refused_by_the_database(lambda: WithdrawalEvent.objects.filter(withdrawal=written).update(actor="someone else"))
    refused_by_the_database(lambda: WithdrawalEvent.objects.filter(withdrawal=written).delete())
    event = written.events.last()
    event.reason = "rewritten"
    refused_by_the_database(event.save)
    refused_by_the_database(written.events.first().delete)
    assert (
        list(WithdrawalEvent.objects.filter(withdrawal=written).values_list("id", "to_status", "actor", "reason"))
        == rows
    )


def test_nobody_can_edit_or_delete_approvals(written):
    rows = list(Approval.objects.filter(withdrawal=written).values_list("id", "reviewer_id", "reason"))
    assert len(rows) == 1
    refused_by_the_database(lambda: Approval.objects.filter(withdrawal=written).update(reason="rubber stamp"))
    refused_by_the_database(lambda: Approval.objects.filter(withdrawal=written).delete())
    refused_by_the_database(written.approvals.get().delete)
    assert list(Approval.objects.filter(withdrawal=written).values_list("id", "reviewer_id", "reason")) == rows
