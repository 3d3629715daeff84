"""Automatic review (审核) by the rules finance maintains.

A request no active rule fires on is approved by the system; any rule that
fires sends it to a reviewer, and its code is kept on the withdrawal
(``review_rules``) and on the history row of that decision. Each kind is
tried alone here (the other rules switched off), just below and just above
its threshold.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from accounts.services import account_open
from withdrawals.models import ReviewRule, Status, WatchListEntry
from withdrawals.services import (
    payout_answer_record,
    payout_cancel,
    payout_send,
    withdrawal_approve,
    withdrawal_auto_review,
)

from .conftest import CARD_OK, card

# Daily counts and amounts, an account's age in days: all within one local day.
pytestmark = [pytest.mark.django_db, pytest.mark.local_afternoon]

D = Decimal
OTHER_CARD = card("4343")


def only(*codes):
    ReviewRule.objects.exclude(code__in=codes).update(active=False)
    assert set(ReviewRule.objects.filter(active=True).values_list("code", flat=True)) == set(codes)


def reviewed(desk, amount="100.00", **kw):
    """A request, then the automatic review its commit triggers."""
    w = desk.request(amount, **kw)
    withdrawal_auto_review(withdrawal_id=w.id)
    return desk.fresh(w)


def fired(w) -> list[str]:
    """The rules that fired, as the withdrawal and its history row both record them."""
    decision = w.events.get(from_status=Status.REQUESTED)
    assert decision.rule_codes == w.review_rules
    if w.review_rules:
        assert (w.status, decision.to_status) == (Status.IN_REVIEW, Status.IN_REVIEW)
        assert decision.reason == "rules fired: " + ", ".join(w.review_rules)
    else:
        assert (w.status, decision.to_status, decision.reason) == (
            Status.APPROVED,
            Status.APPROVED,
            "no review rule fired",
        )
    assert decision.actor == "system:auto-review"
    return w.review_rules


def pay(desk, w):
    if w.status == Status.IN_REVIEW:
        withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer"))
    instruction = payout_send(withdrawal_id=w.id, bank=desk.bank_a, user=desk.user("Cashier"))
    payout_answer_record(instruction_no=instruction.instruction_no, outcome="succeeded", bank_ref="REF")
    assert desk.fresh(w).status == Status.PAID


def test_amount_over(desk):
    only("large-amount")  # above 5,000 CNY
    assert fired(reviewed(desk, "5000.00")) == []
    w = reviewed(desk, "5000.01")
    assert fired(w) == ["large-amount"]
    assert w.approvals_required == 1


def test_daily_count(desk):
    only("daily-count")  # more than 5 withdrawals today
    first_five = [reviewed(desk, "10.00") for _ in range(5)]
    assert [fired(w) for w in first_five] == [[]] * 5
    assert fired(reviewed(desk, "10.00")) == ["daily-count"]  # the sixth


def test_daily_count_leaves_out_cancelled_requests(desk):
    only("daily-count")
    five = [reviewed(desk, "10.00") for _ in range(5)]
    payout_cancel(withdrawal_id=five[0].id, user=desk.user("Cashier"), reason="member changed her mind")
    assert fired(reviewed(desk, "10.00")) == []  # 4 open + this one = 5, not more than 5
    assert fired(reviewed(desk, "10.00")) == ["daily-count"]


def test_daily_amount(desk):
    only("daily-amount")  # more than 20,000 CNY withdrawn today
    assert fired(reviewed(desk, "15000.00")) == []
    assert fired(reviewed(desk, "5000.00")) == []  # 20,000.00 in all: not more
    assert fired(reviewed(desk, "0.01")) == ["daily-amount"]  # 20,000.01


def test_new_card(desk, ledger):
    only("new-card")
    first = reviewed(desk, card_number=CARD_OK)
    assert fired(first) == ["new-card"]
    # Asked for but not yet paid: the card is still new.
    assert fired(reviewed(desk, card_number=CARD_OK)) == ["new-card"]
    pay(desk, first)
    assert fired(reviewed(desk, card_number=CARD_OK)) == []  # paid to before
    assert fired(reviewed(desk, card_number=OTHER_CARD)) == ["new-card"]


def test_new_card_is_per_member(desk, ledger):
    only("new-card")
    bob = ledger.cash()
    ledger.recharge(bob, "1000")
    bobs = reviewed(desk, account=bob, card_number=OTHER_CARD)
    pay(desk, bobs)
    # Bob was paid to that card; for Alice it is still a new card.
    assert fired(reviewed(desk, card_number=OTHER_CARD)) == ["new-card"]


def test_watch_list(desk):
    only("watch-list")
    assert fired(reviewed(desk)) == []
    entry = WatchListEntry.objects.create(member=desk.member_account.member, reason="chargebacks", added_by="risk")
    assert fired(reviewed(desk)) == ["watch-list"]
    WatchListEntry.objects.filter(pk=entry.pk).update(active=False)
    assert fired(reviewed(desk)) == []


def test_young_account(desk, ledger):
    only("young-account")  # opened less than 7 days ago
    member = desk.member_account.member

    def account(days_old):
        a = account_open(
            entity=ledger.entity,
            account_type=ledger.types["USER_CASH"],
            member=member,
            opened_on=date.today() - timedelta(days=days_old),
        )
        ledger.recharge(a, "100")
        return a

    assert fired(reviewed(desk, "10.00", account=account(6))) == ["young-account"]
    assert fired(reviewed(desk, "10.00", account=account(7))) == []
    assert fired(reviewed(desk, "10.00", account=account(0))) == ["young-account"]


def test_dual_approval(desk, ledger):
    only("dual-approval")  # above 50,000 CNY: two reviewers
    ledger.recharge(desk.member_account, "100000")
    below = reviewed(desk, "50000.00")
    assert (fired(below), below.approvals_required) == ([], 1)
    above = reviewed(desk, "50000.01")
    assert (fired(above), above.approvals_required) == (["dual-approval"], 2)


def test_every_rule_that_fires_is_recorded(desk):
    WatchListEntry.objects.create(member=desk.member_account.member, reason="review", added_by="risk")
    w = reviewed(desk, "60000.00")
    assert fired(w) == ["daily-amount", "dual-approval", "large-amount", "new-card", "watch-list"]


def test_inactive_rules_do_not_fire(desk, ledger):
    """Everything about this request would trip a rule: young account, on
    the watch list, a new card, 60,000.00 on one day. With every rule
    switched off it is approved."""
    ReviewRule.objects.update(active=False)
    young = account_open(
        entity=ledger.entity, account_type=ledger.types["USER_CASH"], member=desk.member_account.member
    )
    ledger.recharge(young, "100000")
    WatchListEntry.objects.create(member=desk.member_account.member, reason="review", added_by="risk")
    w = reviewed(desk, "60000.00", account=young)
    assert (fired(w), w.approvals_required) == ([], 1)


def test_currency_specific_rules_apply_to_their_currency_only(desk, ledger):
    """large-amount, daily-amount and dual-approval are CNY rules: 60,000 HKD
    trips none of them. The new-card and watch-list rules name no currency
    and apply to HKD as well."""
    hkd = account_open(
        entity=ledger.entity,
        account_type=ledger.types["USER_CASH"],
        member=desk.member_account.member,
        currency="HKD",
        opened_on=date.today() - timedelta(days=30),
    )
    ledger.internal("FEE_INCOME", currency="HKD")
    ledger.recharge(hkd, "100000")
    w = reviewed(desk, "60000.00", account=hkd)
    assert w.currency == "HKD"
    assert (fired(w), w.approvals_required) == (["new-card"], 1)
    assert w.fee == D("50.00")  # the HKD fee rule: 0.1% = 60.00, capped at 50.00

    # The same amount in CNY trips all three CNY rules.
    assert fired(reviewed(desk, "60000.00")) == ["daily-amount", "dual-approval", "large-amount", "new-card"]

    # A rule made for HKD fires on HKD and not on CNY.
    ReviewRule.objects.create(
        code="hkd-large", kind="amount_over", name="Above 10,000 HKD", currency="HKD", amount=D("10000")
    )
    assert "hkd-large" in fired(reviewed(desk, "20000.00", account=hkd))
    assert "hkd-large" not in fired(reviewed(desk, "20000.00"))


def test_a_rule_of_an_unknown_kind_sends_to_review(desk):
    """A kind added to the choices but not to the verdict must not approve silently."""
    only()
    ReviewRule.objects.create(code="future-kind", kind="velocity", name="Not implemented yet")
    assert fired(reviewed(desk)) == ["future-kind"]
