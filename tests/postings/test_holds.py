"""Holds (冻结): freeze, settle all or part, release the rest, expire."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from accounts.kernel.errors import IdempotencyConflict, IllegalTransition
from accounts.kernel.transitions import transition
from postings.exceptions import HoldExceeded, HoldExpired, HoldNotActive
from postings.models import ACTIVE_HOLD_STATUSES, HOLD_TRANSITIONS, Hold, HoldEvent, HoldStatus, Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services import Leg, hold_place, hold_release, hold_settle, holds_expire_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet(ledger):
    account = ledger.cash()
    ledger.recharge(account, "1000")
    return account


def place(account, amount, request_no="h", **kw):
    return hold_place(
        account_no=account.account_no,
        amount=amount,
        reason="escrow purchase",
        request_no=request_no,
        actor="trade",
        **kw,
    )


def settle(hold, amount, request_no, counter, **kw):
    return hold_settle(
        hold_id=hold.id,
        request_no=request_no,
        amount=amount,
        business_type="guarantee_settlement",
        actor="trade",
        counter_account_no=counter.account_no,
        **kw,
    )


def test_freeze_lowers_available_not_balance(ledger, wallet):
    place(wallet, "300")
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen, w.available) == (Decimal("1000"), Decimal("300"), Decimal("700"))


def test_frozen_money_cannot_be_spent_elsewhere(ledger, wallet):
    from accounts.exceptions import InsufficientFunds
    from postings.services import posting_create

    place(wallet, "900")
    shop = ledger.cash()
    with pytest.raises(InsufficientFunds):
        posting_create(
            request_no="spend",
            business_type="transfer",
            posted_by="t",
            legs=[Leg.debit(wallet.account_no, "100.01"), Leg.credit(shop.account_no, "100.01")],
        )


def test_partial_settle_then_release_the_rest(ledger, wallet):
    escrow = ledger.internal("ESCROW")
    hold = place(wallet, "300")
    posting = settle(hold, "120", "s1", escrow)
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen, w.available) == (Decimal("880"), Decimal("180"), Decimal("700"))
    hold.refresh_from_db()
    assert (hold.status, hold.remaining) == (HoldStatus.PARTIALLY_SETTLED, Decimal("180"))
    held_entry = posting.entries.get(account=wallet)
    assert (held_entry.frozen_before, held_entry.frozen_after) == (Decimal("300"), Decimal("180"))
    assert ledger.balance(escrow) == Decimal("120")

    released = hold_release(hold_id=hold.id, request_no="r1", actor="trade")
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen, w.available) == (Decimal("880"), Decimal("0"), Decimal("880"))
    assert (released.status, released.remaining) == (HoldStatus.RELEASED, Decimal("0"))
    kinds = list(hold.events.values_list("kind", "amount"))
    assert kinds == [("freeze", Decimal("300")), ("settle", Decimal("120")), ("release", Decimal("180"))]
    assert account_chain_breaks(account=w) == []
    assert all(t.holds for t in identity_totals())


@pytest.mark.parametrize("business_type", ["reversal", "lunch"])
def test_a_settlement_needs_a_known_business_type_and_changes_nothing_otherwise(ledger, wallet, business_type):
    from accounts.kernel.errors import LedgerValidationError

    escrow = ledger.internal("ESCROW")
    hold = place(wallet, "300")
    with pytest.raises(LedgerValidationError, match="Unknown business type"):
        hold_settle(
            hold_id=hold.id,
            request_no="s-bad",
            amount="100",
            business_type=business_type,
            actor="trade",
            counter_account_no=escrow.account_no,
        )
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen) == (Decimal("1000"), Decimal("300"))
    hold.refresh_from_db()
    assert (hold.status, hold.remaining) == (HoldStatus.HELD, Decimal("300"))
    assert ledger.balance(escrow) == Decimal("0")


def test_settle_in_full_with_three_legs(ledger, wallet):
    channel, fee = ledger.channel(), ledger.internal("FEE_INCOME")
    hold = place(wallet, "102")
    hold_settle(
        hold_id=hold.id,
        request_no="wd-settle",
        amount="102",
        business_type="withdrawal",
        actor="cashier",
        counter_legs=[Leg.credit(channel.account_no, "100"), Leg.credit(fee.account_no, "2")],
    )
    hold.refresh_from_db()
    assert (hold.status, hold.remaining) == (HoldStatus.SETTLED, Decimal("0"))
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen) == (Decimal("898"), Decimal("0"))
    assert ledger.balance(fee) == Decimal("2")


@pytest.mark.parametrize("ending", ["release", "settle", "expire"])
def test_an_ended_hold_cannot_be_settled(ledger, wallet, ending):
    """The peer-system bug: settling a released or expired hold double-spends."""
    escrow = ledger.internal("ESCROW")
    hold = place(wallet, "50", expires_at=timezone.now() + timedelta(hours=1))
    if ending == "release":
        hold_release(hold_id=hold.id, request_no="rel", actor="t")
    elif ending == "settle":
        settle(hold, "50", "first", escrow)
    else:
        assert holds_expire_due(now=timezone.now() + timedelta(hours=2)) == 1
    before = ledger.fresh(wallet)
    with pytest.raises(HoldNotActive):
        settle(hold, "1", "late", escrow)
    with pytest.raises(HoldNotActive):
        hold_release(hold_id=hold.id, request_no="late-release", actor="t")
    after = ledger.fresh(wallet)
    assert (after.balance, after.frozen) == (before.balance, before.frozen)


def test_never_settle_more_than_held_across_several_settlements(ledger, wallet):
    escrow = ledger.internal("ESCROW")
    hold = place(wallet, "100")
    settle(hold, "60", "a", escrow)
    with pytest.raises(HoldExceeded):
        settle(hold, "40.01", "b", escrow)
    settle(hold, "40", "c", escrow)
    assert ledger.balance(escrow) == Decimal("100")


def test_partial_release(ledger, wallet):
    hold = place(wallet, "100")
    hold = hold_release(hold_id=hold.id, request_no="part", amount="30", actor="t")
    assert (hold.status, hold.remaining) == (HoldStatus.HELD, Decimal("70"))
    assert ledger.fresh(wallet).frozen == Decimal("70")
    with pytest.raises(HoldExceeded):
        hold_release(hold_id=hold.id, request_no="too-much", amount="70.01", actor="t")


def test_expiry_releases_and_is_safe_to_run_twice(ledger, wallet):
    soon = timezone.now() + timedelta(minutes=5)
    hold = place(wallet, "100", expires_at=soon)
    place(wallet, "10", request_no="no-expiry")
    assert holds_expire_due(now=soon - timedelta(seconds=1)) == 0
    assert holds_expire_due(now=soon) == 1
    assert holds_expire_due(now=soon) == 0
    hold.refresh_from_db()
    assert (hold.status, hold.remaining) == (HoldStatus.EXPIRED, Decimal("0"))
    assert ledger.fresh(wallet).frozen == Decimal("10")


def test_hold_requests_are_idempotent(ledger, wallet):
    first = place(wallet, "100", request_no="same")
    again = place(wallet, "100.00", request_no="same")
    assert (again.id, again.replayed) == (first.id, True)
    assert ledger.fresh(wallet).frozen == Decimal("100")
    with pytest.raises(IdempotencyConflict):
        place(wallet, "99", request_no="same")


def test_settle_and_release_are_idempotent(ledger, wallet):
    escrow = ledger.internal("ESCROW")
    hold = place(wallet, "100")
    p1 = settle(hold, "30", "settle-1", escrow)
    p2 = settle(hold, "30", "settle-1", escrow)
    assert (p2.serial_no, p2.replayed) == (p1.serial_no, True)
    with pytest.raises(IdempotencyConflict):
        settle(hold, "31", "settle-1", escrow)
    hold_release(hold_id=hold.id, request_no="rel-1", actor="t")
    again = hold_release(hold_id=hold.id, request_no="rel-1", actor="t")
    assert again.replayed is True
    assert HoldEvent.objects.filter(hold=hold).count() == 3
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen) == (Decimal("970"), Decimal("0"))


def test_settling_a_hold_placed_before_a_debit_block(ledger, wallet):
    """The bank already paid the withdrawal: a later 止付 must not strand it."""
    from accounts.services import account_change_status

    hold = place(wallet, "100")
    account_change_status(account=wallet, to_status="debit_blocked", reason="risk review", actor="risk")
    settle(hold, "100", "paid", ledger.channel())
    assert ledger.fresh(wallet).balance == Decimal("900")


def test_credit_line_hold(ledger):
    """A pre-authorisation on a credit line: limit - used - frozen."""
    credit, shop = ledger.credit(limit="500"), ledger.cash()
    hold = hold_place(account_no=credit.account_no, amount="200", reason="pre-auth", request_no="pa", actor="t")
    assert ledger.fresh(credit).available == Decimal("300")
    hold_settle(
        hold_id=hold.id,
        request_no="pa-s",
        amount="150",
        business_type="credit_purchase",
        actor="t",
        counter_account_no=shop.account_no,
    )
    c = ledger.fresh(credit)
    assert (c.balance, c.frozen, c.available) == (Decimal("150"), Decimal("50"), Decimal("300"))


def test_the_hold_table_refuses_moving_a_closed_hold_with_hold_not_active(ledger, wallet):
    """The table itself, not only the lock's early check: a released hold
    cannot be settled (or moved anywhere), with the code the API answers."""
    hold = place(wallet, "50")
    hold_release(hold_id=hold.id, request_no="rel", actor="t")
    released = Hold.objects.get(pk=hold.id)
    events = HoldEvent.objects.filter(hold=hold).count()
    for target in HoldStatus:
        with pytest.raises(HoldNotActive) as refused, transaction.atomic():
            transition(
                released,
                target,
                table=HOLD_TRANSITIONS,
                what=f"Hold {hold.id}",
                hold_id=hold.id,
                history=lambda from_status, to_status: pytest.fail("history written for a refused move"),
            )
        assert refused.value.code == "hold_not_active"
        assert refused.value.as_dict()["fields"] == {"hold_id": str(hold.id), "status": "released"}
    assert Hold.objects.get(pk=hold.id).status == HoldStatus.RELEASED
    assert HoldEvent.objects.filter(hold=hold).count() == events
    # An active hold never goes back to held once partly settled.
    with pytest.raises(IllegalTransition):
        HOLD_TRANSITIONS.check(HoldStatus.PARTIALLY_SETTLED, HoldStatus.HELD, what="Hold")
    assert ACTIVE_HOLD_STATUSES == (HoldStatus.HELD, HoldStatus.PARTIALLY_SETTLED)


# Hold expiry is exact (issue 18 §4): a settle or release compares with the
# hold's expiry when it runs (the app's clock, timezone.now(), as the sweep
# does); the sweep holds_expire_due only tidies up what nobody touched.


def _expired_once(ledger, wallet, hold):
    """The hold is expired, its 100 given back once: one freeze, one expire."""
    hold.refresh_from_db()
    assert (hold.status, hold.remaining) == (HoldStatus.EXPIRED, Decimal("0"))
    w = ledger.fresh(wallet)
    assert (w.balance, w.frozen, w.available) == (Decimal("1000"), Decimal("0"), Decimal("1000"))
    events = list(HoldEvent.objects.filter(hold=hold).order_by("id").values_list("kind", "amount"))
    assert events == [(HoldEvent.Kind.FREEZE, Decimal("100")), (HoldEvent.Kind.EXPIRE, Decimal("100"))]


def test_a_hold_settled_two_seconds_after_its_expiry_is_refused_and_expired(ledger, wallet):
    escrow = ledger.internal("ESCROW")
    expires_at = timezone.now() + timedelta(minutes=1)
    hold = place(wallet, "100", expires_at=expires_at)
    with time_machine.travel(expires_at + timedelta(seconds=2), tick=False):
        with pytest.raises(HoldExpired) as refused:
            settle(hold, "60", "late", escrow)
        assert refused.value.code == "hold_expired"
        assert refused.value.as_dict()["fields"]["hold_id"] == str(hold.id)
        _expired_once(ledger, wallet, hold)
        assert ledger.balance(escrow) == Decimal("0")
        # Again, with the same request number or another: hold_expired, nothing released twice.
        for request_no in ("late", "later"):
            with pytest.raises(HoldExpired):
                settle(hold, "60", request_no, escrow)
        with pytest.raises(HoldExpired):
            hold_release(hold_id=hold.id, request_no="rel-late", actor="t")
        assert holds_expire_due() == 0
        _expired_once(ledger, wallet, hold)
    assert not Posting.objects.filter(request_no__in=["late", "later"]).exists()


def test_a_hold_settled_just_before_its_expiry_is_settled(ledger, wallet):
    escrow = ledger.internal("ESCROW")
    expires_at = timezone.now() + timedelta(minutes=1)
    hold = place(wallet, "100", expires_at=expires_at)
    with time_machine.travel(expires_at - timedelta(seconds=1), tick=False):
        settle(hold, "100", "in-time", escrow)
    hold.refresh_from_db()
    assert hold.status == HoldStatus.SETTLED
    assert ledger.balance(escrow) == Decimal("100")


@pytest.mark.parametrize("amount", [None, "30"])
def test_releasing_an_expired_hold_expires_it_once(ledger, wallet, amount):
    """The caller wanted the money back and it is back, once: the hold says
    expired, and the call answers hold_expired (as every later one does)."""
    expires_at = timezone.now() + timedelta(minutes=1)
    hold = place(wallet, "100", expires_at=expires_at)
    with time_machine.travel(expires_at, tick=False):  # expires_at itself is expired, as for the sweep
        for _ in range(2):
            with pytest.raises(HoldExpired):
                hold_release(hold_id=hold.id, request_no="rel", amount=amount, actor="t")
        assert holds_expire_due() == 0
    _expired_once(ledger, wallet, hold)


@pytest.mark.django_db(transaction=True)
def test_the_expiry_found_by_a_refused_settle_is_committed(ledger, wallet):
    escrow = ledger.internal("ESCROW")
    expires_at = timezone.now() + timedelta(minutes=1)
    hold = place(wallet, "100", expires_at=expires_at)
    with time_machine.travel(expires_at + timedelta(seconds=2), tick=False):
        with pytest.raises(HoldExpired):
            settle(hold, "60", "late", escrow)
    seen = {}

    def other_connection():  # sees only what was committed
        try:
            seen["hold"] = Hold.objects.values_list("status", "remaining").get(pk=hold.id)
            seen["frozen"] = ledger.fresh(wallet).frozen
        finally:
            connection.close()

    t = threading.Thread(target=other_connection)
    t.start()
    t.join(timeout=60)
    assert seen == {"hold": (HoldStatus.EXPIRED, Decimal("0")), "frozen": Decimal("0")}


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_past_the_expiry_release_the_money_once(ledger, wallet):
    """Settles, releases and the sweep at once past the expiry: one expire event."""
    escrow = ledger.internal("ESCROW")
    expires_at = timezone.now() + timedelta(minutes=1)
    hold = place(wallet, "100", expires_at=expires_at)
    barrier = threading.Barrier(4)
    outcomes = [None] * 4

    def work(i):
        try:
            barrier.wait()
            if i == 0:
                outcomes[i] = holds_expire_due()
            elif i == 1:
                hold_release(hold_id=hold.id, request_no="rel", actor="t")
            else:
                settle(hold, "60", f"late-{i}", escrow)
        except HoldExpired as exc:
            outcomes[i] = exc.code
        finally:
            connection.close()

    with time_machine.travel(expires_at + timedelta(seconds=2), tick=False):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert outcomes[0] in (0, 1) and outcomes[1:] == ["hold_expired"] * 3
    _expired_once(ledger, wallet, hold)
    assert ledger.balance(escrow) == Decimal("0")
