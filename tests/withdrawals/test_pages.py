"""The staff pages (withdrawals/views.py) through the Django test client.

Who may see and do what, per role (groups of migrations 0002 and 0004):

================  =========  ======  ======  ===========  =======================
role              view_*     review  pay     request      resolve a bank flag
================  =========  ======  ======  ===========  =======================
Finance staff     yes        -       -       yes          yes (migration 0004)
Reviewer          yes        yes     -       -            -
Cashier           yes        -       yes     -            -
Auditor           yes        -       -       -            -
Ledger admin      yes        -       -       -            -
================  =========  ======  ======  ===========  =======================

A refused page or action answers 403 and changes nothing; an anonymous
visitor is sent to the admin login. Full card numbers appear nowhere.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from accounts.services import account_change_status
from withdrawals import services
from withdrawals.models import InstructionStatus, PayoutInstruction, Status, Withdrawal, WithdrawalEvent

from ..conftest import as_owner_bypassing_guards
from .conftest import CARD_BUSY_ONCE, CARD_CLOSED, CARD_OK, CARD_STUCK, ROLES, card

pytestmark = pytest.mark.django_db

VIEW_ROLES = set(ROLES)
PERMITTED = {
    "view": VIEW_ROLES,
    "review": {"Reviewer"},
    "pay": {"Cashier"},
    "request": {"Finance staff"},
    "resolve": {"Finance staff"},
}
ALL_ROLES = [*ROLES, None]  # None: not logged in


# ------------------------------------------------------------- helpers ----


@pytest.fixture
def as_role(desk):
    """A test client logged in as a fresh user of ``role`` (None: anonymous)."""

    def make(role: str | None, name: str | None = None) -> Client:
        client = Client()
        if role is not None:
            client.force_login(desk.user(role, name))
        return client

    return make


@pytest.fixture
def flow(desk, django_capture_on_commit_callbacks):
    """Withdrawals brought to a given status through the services, the
    bank's answers (Celery eager, sandbox) run as they would after commit."""

    class Flow:
        cards = itertools.count(4400)

        def in_review(self, amount="100.00", **kw) -> Withdrawal:
            # A card not paid to before (the sandbox pays tails 44xx), so "new-card" fires.
            kw.setdefault("card_number", card(str(next(self.cards))))
            w = desk.request(amount, **kw)
            services.withdrawal_auto_review(withdrawal_id=w.id)
            w = desk.fresh(w)
            assert w.status == Status.IN_REVIEW
            return w

        def approved(self, amount="100.00", **kw) -> Withdrawal:
            w = self.in_review(amount, **kw)
            services.withdrawal_approve(withdrawal_id=w.id, user=desk.user("Reviewer", "flow-reviewer"))
            return desk.fresh(w)

        def sent(self, w: Withdrawal, bank=None) -> Withdrawal:
            with django_capture_on_commit_callbacks(execute=True):
                services.payout_send(
                    withdrawal_id=w.id, bank=bank or desk.bank_a, user=desk.user("Cashier", "flow-cashier")
                )
            return desk.fresh(w)

        def failed(self, amount="100.00") -> Withdrawal:
            w = self.sent(self.approved(amount, card_number=CARD_CLOSED))
            assert w.status == Status.FAILED
            return w

        def paid(self, amount="100.00") -> Withdrawal:
            w = self.sent(self.approved(amount))
            assert w.status == Status.PAID
            return w

        def flagged(self) -> tuple[Withdrawal, PayoutInstruction]:
            """Failed, then the bank says it paid after all: an open flag."""
            w = self.failed()
            instruction = PayoutInstruction.objects.get(withdrawal=w)
            services.payout_answer_record(
                instruction_no=instruction.instruction_no, outcome="succeeded", bank_ref="LATE-1", source="query"
            )
            instruction.refresh_from_db()
            assert instruction.needs_attention and desk.fresh(w).status == Status.FAILED
            return w, instruction

        def stuck(self) -> Withdrawal:
            w = self.sent(self.approved(card_number=CARD_STUCK))
            assert w.status == Status.PAYING
            return w

    return Flow()


def expect(response, role: str | None, allowed: set[str], ok: int = 302):
    """The answer a role should get: ``ok`` (the page, or the redirect after
    an action), 403, or the login page for an anonymous visitor."""
    if role is None:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login") + "?next=")
    elif role in allowed:
        assert response.status_code == ok, response.status_code
    else:
        assert response.status_code == 403


def text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8-sig")
    return response.content.decode("utf-8-sig")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --------------------------------------------------------------- pages ----


PAGES = [
    ("withdrawals:dashboard", "view"),
    ("withdrawals:review", "review"),
    ("withdrawals:payout", "pay"),
    ("withdrawals:list", "view"),
    ("withdrawals:export", "view"),
    ("withdrawals:new", "request"),
]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize(("url_name", "perm"), PAGES)
def test_page_access_by_role(as_role, flow, role, url_name, perm):
    flow.in_review()
    response = as_role(role).get(reverse(url_name))
    expect(response, role, PERMITTED[perm], ok=200)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_detail_page_access_by_role(as_role, flow, role):
    w = flow.paid()
    response = as_role(role).get(reverse("withdrawals:detail", args=[w.id]))
    expect(response, role, PERMITTED["view"], ok=200)
    if role is not None:
        assert f"W{w.id}" in text(response)


def test_a_user_without_any_group_is_refused_everywhere(as_role, flow, desk):
    from django.contrib.auth.models import User

    w = flow.in_review()
    client = Client()
    client.force_login(User.objects.create_user("nobody", password="password", is_staff=True))
    for url_name, _ in PAGES:
        assert client.get(reverse(url_name)).status_code == 403
    assert client.get(reverse("withdrawals:detail", args=[w.id])).status_code == 403
    assert client.post(reverse("withdrawals:approve", args=[w.id])).status_code == 403


def test_unknown_withdrawal_is_404(as_role):
    assert as_role("Auditor").get(reverse("withdrawals:detail", args=[999999])).status_code == 404


def test_nav_shows_only_the_pages_of_the_role(as_role, desk):
    body = text(as_role("Cashier").get(reverse("withdrawals:dashboard")))
    assert "Payout desk" in body and "All withdrawals" in body
    assert "Review queue" not in body and "New request" not in body
    assert "Log out" in body and "cashier" in body


# ------------------------------------------------------------- actions ----


def test_actions_are_post_only(as_role, flow):
    w = flow.in_review()
    reviewer = as_role("Reviewer")
    for url in (
        reverse("withdrawals:approve", args=[w.id]),
        reverse("withdrawals:reject", args=[w.id]),
        reverse("withdrawals:bulk_approve"),
    ):
        assert reviewer.get(url).status_code == 405
    cashier = as_role("Cashier")
    for url in (
        reverse("withdrawals:payout_send"),
        reverse("withdrawals:cancel", args=[w.id]),
        reverse("withdrawals:payout_query", args=[1]),
    ):
        assert cashier.get(url).status_code == 405
    assert desk_status(w) == Status.IN_REVIEW


def test_actions_need_the_csrf_token(desk, flow):
    w = flow.in_review()
    client = Client(enforce_csrf_checks=True)
    client.force_login(desk.user("Reviewer"))
    assert client.post(reverse("withdrawals:approve", args=[w.id])).status_code == 403
    assert desk_status(w) == Status.IN_REVIEW
    # The page carries the token in each of its forms.
    page = client.get(reverse("withdrawals:review"))
    assert text(page).count("csrfmiddlewaretoken") >= 3


def desk_status(w: Withdrawal) -> str:
    return Withdrawal.objects.values_list("status", flat=True).get(pk=w.pk)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_approve_by_role(as_role, flow, role):
    w = flow.in_review()
    response = as_role(role).post(reverse("withdrawals:approve", args=[w.id]), {"reason": "known customer"})
    expect(response, role, PERMITTED["review"])
    assert desk_status(w) == (Status.APPROVED if role == "Reviewer" else Status.IN_REVIEW)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_reject_by_role(as_role, flow, desk, role):
    w = flow.in_review()
    frozen_before = desk.ledger.fresh(desk.member_account).frozen
    response = as_role(role).post(reverse("withdrawals:reject", args=[w.id]), {"reason": "card not in her name"})
    expect(response, role, PERMITTED["review"])
    if role == "Reviewer":
        assert desk_status(w) == Status.REJECTED
        assert desk.ledger.fresh(desk.member_account).frozen == frozen_before - w.total
    else:
        assert desk_status(w) == Status.IN_REVIEW
        assert desk.ledger.fresh(desk.member_account).frozen == frozen_before


@pytest.mark.parametrize("role", ALL_ROLES)
def test_bulk_approve_by_role(as_role, flow, role):
    a, b = flow.in_review("10.00"), flow.in_review("20.00")
    response = as_role(role).post(reverse("withdrawals:bulk_approve"), {"withdrawal_ids": [a.id, b.id]})
    expect(response, role, PERMITTED["review"])
    expected = Status.APPROVED if role == "Reviewer" else Status.IN_REVIEW
    assert desk_status(a) == desk_status(b) == expected


@pytest.mark.parametrize("role", ALL_ROLES)
def test_payout_send_by_role(as_role, flow, desk, role, django_capture_on_commit_callbacks):
    w = flow.approved()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_role(role).post(
            reverse("withdrawals:payout_send"), {"withdrawal_ids": [w.id], "bank": desk.bank_a.pk}
        )
    expect(response, role, PERMITTED["pay"])
    if role == "Cashier":
        assert desk_status(w) == Status.PAID  # the sandbox bank answers at once in eager mode
        assert PayoutInstruction.objects.get(withdrawal=w).bank == desk.bank_a
    else:
        assert desk_status(w) == Status.APPROVED
        assert not PayoutInstruction.objects.filter(withdrawal=w).exists()


def test_payout_desk_with_the_broker_down_records_the_payout_and_keeps_its_transmission(
    as_role, flow, desk, monkeypatch, django_capture_on_commit_callbacks
):
    """Issue 18 §2: the payout page gave a 500 when Redis was down, though
    the instruction had been recorded. Now the page answers as usual (its
    redirect) and the transmission waits in the task outbox, sent by the
    sweep when the broker is back. (The page's message still says "sent
    through" the bank: the instruction is recorded, not yet transmitted.)"""
    from celery import current_app
    from kombu.exceptions import OperationalError

    from accounts.kernel.models import PendingTask

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    w = flow.approved()
    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(current_app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_role("Cashier").post(
            reverse("withdrawals:payout_send"), {"withdrawal_ids": [w.id], "bank": desk.bank_a.pk}
        )
    assert response.status_code == 302
    instruction = PayoutInstruction.objects.get(withdrawal=w)
    assert (desk_status(w), instruction.status, instruction.bank_ref) == (Status.PAYING, InstructionStatus.SENT, "")
    assert list(PendingTask.objects.values_list("task_name", "args")) == [
        ("withdrawals.tasks.payout_transmit", [instruction.id])
    ]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_cancel_by_role(as_role, flow, role):
    w = flow.failed()
    response = as_role(role).post(reverse("withdrawals:cancel", args=[w.id]), {"reason": "card closed: new card"})
    expect(response, role, PERMITTED["pay"])
    assert desk_status(w) == (Status.CANCELLED if role == "Cashier" else Status.FAILED)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_query_bank_by_role(as_role, flow, role):
    w = flow.stuck()
    instruction = PayoutInstruction.objects.get(withdrawal=w)
    response = as_role(role).post(reverse("withdrawals:payout_query", args=[instruction.id]))
    expect(response, role, PERMITTED["pay"])
    instruction.refresh_from_db()
    assert instruction.status == InstructionStatus.SENT  # 7777: "processing" for ever
    assert (instruction.last_queried_at is not None) == (role == "Cashier")


@pytest.mark.parametrize("role", ALL_ROLES)
def test_new_request_by_role(as_role, desk, role):
    response = as_role(role).post(reverse("withdrawals:new"), new_request_data(desk))
    expect(response, role, PERMITTED["request"])
    assert Withdrawal.objects.filter(source_system="staff").count() == (1 if role == "Finance staff" else 0)


# ----------------------------------------- action outcomes and messages ----


def test_approve_shows_the_outcome_and_goes_back(as_role, flow):
    w = flow.in_review()
    back = reverse("withdrawals:review") + "?member=Alice"
    response = as_role("Reviewer").post(reverse("withdrawals:approve", args=[w.id]), {"next": back}, follow=True)
    assert response.redirect_chain[-1][0] == back
    assert f"W{w.id} approved" in " ".join(messages_of(response))


def test_next_pointing_elsewhere_is_ignored(as_role, flow):
    w = flow.in_review()
    response = as_role("Reviewer").post(
        reverse("withdrawals:approve", args=[w.id]), {"next": "https://evil.example.com/"}
    )
    assert response["Location"] == reverse("withdrawals:review")


def test_approving_twice_is_a_message_not_an_error(as_role, flow):
    w = flow.in_review()
    reviewer = as_role("Reviewer")
    reviewer.post(reverse("withdrawals:approve", args=[w.id]))
    response = reviewer.post(reverse("withdrawals:approve", args=[w.id]), follow=True)
    assert response.status_code == 200
    assert any("not in review" in m for m in messages_of(response))


def test_dual_approval_needs_two_reviewers(as_role, flow):
    w = flow.in_review("60000.00")
    assert w.approvals_required == 2
    first = as_role("Reviewer", "rev-one")
    response = first.post(reverse("withdrawals:approve", args=[w.id]), follow=True)
    assert any("1 of 2" in m for m in messages_of(response))
    assert desk_status(w) == Status.IN_REVIEW
    response = first.post(reverse("withdrawals:approve", args=[w.id]), follow=True)
    assert any("already" in m for m in messages_of(response))
    as_role("Reviewer", "rev-two").post(reverse("withdrawals:approve", args=[w.id]))
    assert desk_status(w) == Status.APPROVED


def test_the_reviewer_who_took_the_request_cannot_approve_it(desk, flow, as_role):
    from django.contrib.auth.models import Group

    maker = desk.user("Finance staff", "maker")
    maker.groups.add(Group.objects.get(name="Reviewer"))
    w = flow.in_review(created_by=maker)
    client = Client()
    client.force_login(maker)
    response = client.post(reverse("withdrawals:approve", args=[w.id]), follow=True)
    assert any("another reviewer" in m for m in messages_of(response))
    assert desk_status(w) == Status.IN_REVIEW


def test_reject_needs_a_reason(as_role, flow):
    w = flow.in_review()
    response = as_role("Reviewer").post(reverse("withdrawals:reject", args=[w.id]), {"reason": "  "}, follow=True)
    assert any("reason" in m for m in messages_of(response))
    assert desk_status(w) == Status.IN_REVIEW


def test_bulk_approve_reports_the_refused_ones(as_role, flow):
    small, large = flow.in_review("10.00"), flow.in_review("6000.00")
    response = as_role("Reviewer").post(
        reverse("withdrawals:bulk_approve"), {"withdrawal_ids": [small.id, large.id]}, follow=True
    )
    said = " ".join(messages_of(response))
    assert f"Approved: W{small.id}" in said
    assert f"W{large.id} not approved" in said
    assert desk_status(small) == Status.APPROVED and desk_status(large) == Status.IN_REVIEW


def test_bulk_approve_with_nothing_ticked(as_role, flow):
    response = as_role("Reviewer").post(reverse("withdrawals:bulk_approve"), {}, follow=True)
    assert any("Tick at least one" in m for m in messages_of(response))


def test_batch_payout_reports_refusals_and_pays_the_rest(as_role, flow, desk, django_capture_on_commit_callbacks):
    ok, pending = flow.approved(), flow.in_review()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_role("Cashier").post(
            reverse("withdrawals:payout_send"),
            {"withdrawal_ids": [ok.id, pending.id], "bank": desk.bank_b.pk},
            follow=True,
        )
    said = " ".join(messages_of(response))
    assert f"W{ok.id}" in said and "CMB payouts" in said
    assert f"W{pending.id} not sent" in said
    assert desk_status(ok) == Status.PAID and desk_status(pending) == Status.IN_REVIEW


def test_payout_needs_a_bank(as_role, flow):
    w = flow.approved()
    response = as_role("Cashier").post(reverse("withdrawals:payout_send"), {"withdrawal_ids": [w.id]}, follow=True)
    assert any("Choose the bank" in m for m in messages_of(response))
    assert desk_status(w) == Status.APPROVED


def test_an_inactive_bank_cannot_be_chosen(as_role, flow, desk):
    desk.bank_b.active = False
    desk.bank_b.save()
    w = flow.approved()
    as_role("Cashier").post(reverse("withdrawals:payout_send"), {"withdrawal_ids": [w.id], "bank": desk.bank_b.pk})
    assert desk_status(w) == Status.APPROVED


def test_pay_again_after_a_failure(as_role, flow, desk, django_capture_on_commit_callbacks):
    w = flow.sent(flow.approved(card_number=CARD_BUSY_ONCE))
    assert w.status == Status.FAILED
    page = text(as_role("Cashier").get(reverse("withdrawals:payout")))
    assert "bank busy" in page and "Pay again" in page
    with django_capture_on_commit_callbacks(execute=True):
        as_role("Cashier").post(reverse("withdrawals:payout_send"), {"withdrawal_ids": [w.id], "bank": desk.bank_b.pk})
    assert desk_status(w) == Status.PAID
    assert list(w.instructions.order_by("attempt").values_list("bank__code", "status")) == [
        ("icbc", "failed"),
        ("cmb", "succeeded"),
    ]


def test_cancel_needs_a_reason_and_releases_the_hold(as_role, flow, desk):
    w = flow.failed()
    cashier = as_role("Cashier")
    cashier.post(reverse("withdrawals:cancel", args=[w.id]), {"reason": ""})
    assert desk_status(w) == Status.FAILED
    frozen = desk.ledger.fresh(desk.member_account).frozen
    cashier.post(reverse("withdrawals:cancel", args=[w.id]), {"reason": "card closed, give us another"})
    assert desk_status(w) == Status.CANCELLED
    assert desk.ledger.fresh(desk.member_account).frozen == frozen - w.total
    assert Withdrawal.objects.get(pk=w.pk).closing_reason == "card closed, give us another"


def test_query_bank_now_settles_a_silent_instruction(as_role, flow, desk):
    from .conftest import CARD_SILENT_PAID

    w = flow.sent(flow.approved(card_number=CARD_SILENT_PAID))
    assert w.status == Status.PAYING
    instruction = PayoutInstruction.objects.get(withdrawal=w)
    response = as_role("Cashier").post(reverse("withdrawals:payout_query", args=[instruction.id]), follow=True)
    assert any("paid by the bank" in m for m in messages_of(response))
    assert desk_status(w) == Status.PAID


def test_query_of_an_unknown_instruction_is_404(as_role):
    assert as_role("Cashier").post(reverse("withdrawals:payout_query", args=[999999])).status_code == 404


# --------------------------------------------------------- page content ----


@pytest.mark.real_clock  # "paid today" reads the settlement's created_at, PostgreSQL's now()
def test_dashboard_figures(as_role, flow):
    flow.in_review("100.00")
    flow.in_review("250.50")
    flow.approved("40.00")
    flow.failed("30.00")
    flow.paid("12.00")
    flow.stuck()
    body = text(as_role("Auditor").get(reverse("withdrawals:dashboard")))
    assert "CNY 350.50" in body  # waiting for review
    assert "CNY 70.00" in body  # to pay: 40 approved + 30 failed (the stuck one is paying)
    assert "CNY 12.00" in body  # paid today


def test_review_queue_shows_the_context_beside_each_request(as_role, flow, desk):
    earlier = flow.paid("12.00")
    w = flow.in_review("300.00", card_number=card("4343"))
    body = text(as_role("Reviewer").get(reverse("withdrawals:review")))
    account = desk.ledger.fresh(desk.member_account)
    assert str(account.balance_money) in body and str(account.available_money) in body
    assert str(account.frozen_money) in body
    assert "new-card" in body and "First withdrawal to this card" in body
    assert f"W{earlier.id}" in body  # the member's past withdrawal
    assert "approvals 0 of 1" in body
    assert "withdrawal (提现)" in body  # the settlement among the account's recent entries
    assert f'value="{w.id}" form="bulk-approve"' in body


def test_payout_desk_lists_in_flight_and_stuck(as_role, flow, settings):
    w = flow.stuck()
    instruction = PayoutInstruction.objects.get(withdrawal=w)
    body = text(as_role("Cashier").get(reverse("withdrawals:payout")))
    assert instruction.instruction_no in body and "Query bank now" in body
    assert 'class="badge s-stuck"' not in body
    PayoutInstruction.objects.filter(pk=instruction.pk).update(
        sent_at=timezone.now() - timedelta(minutes=settings.PAYOUT_STUCK_AFTER_MINUTES + 1)
    )
    body = text(as_role("Cashier").get(reverse("withdrawals:payout")))
    assert 'class="badge s-stuck"' in body
    stuck_only = text(as_role("Cashier").get(reverse("withdrawals:payout"), {"flight-stuck": "on"}))
    assert instruction.instruction_no in stuck_only


def test_payout_desk_lists_instructions_needing_attention(as_role, flow):
    w = flow.failed()
    instruction = w.instructions.get()
    services.payout_answer_record(instruction_no=instruction.instruction_no, outcome="succeeded", source="callback")
    body = text(as_role("Cashier").get(reverse("withdrawals:payout")))
    assert "bank answered succeeded" in body


def test_detail_shows_history_instructions_hold_and_settlement(as_role, flow, desk):
    w = flow.paid("100.00")
    body = text(as_role("Auditor").get(reverse("withdrawals:detail", args=[w.id])))
    for status in ("requested", "in_review", "approved", "paying", "paid"):
        assert f"s-{status}" in body
    instruction = w.instructions.get()
    assert instruction.instruction_no in body and instruction.bank_ref in body
    assert "flow-reviewer" in body and "flow-cashier" in body and "bank:callback" in body
    assert "new-card" in body
    assert f"P{w.settlement.serial_no}" in body
    for entry in w.settlement.entries.all():
        assert entry.account.account_no in body
    assert "CNY 100.00" in body and "CNY 2.00" in body  # amount and fee (1 + 0.1%, at least 2)
    assert f"H{w.hold_id}" in body


def test_full_card_number_appears_on_no_page_and_in_no_export(as_role, flow, desk):
    paid, failed, stuck, pending = flow.paid(), flow.failed(), flow.stuck(), flow.in_review(card_number=card("5151"))
    numbers = {w.card_number for w in Withdrawal.objects.all()}
    assert len(numbers) >= 4
    pages = [reverse(name) for name, _ in PAGES] + [
        reverse("withdrawals:detail", args=[w.id]) for w in (paid, failed, stuck, pending)
    ]
    clients = {role: as_role(role) for role in ROLES}
    seen = 0
    for url in pages:
        for role, client in clients.items():
            response = client.get(url)
            if response.status_code != 200:
                continue
            seen += 1
            body = text(response)
            for number in numbers:
                assert number not in body, (url, role)
            assert "**** " in body or url.endswith("new/") or url == reverse("withdrawals:dashboard")
    assert seen > len(pages)


# -------------------------------------------------------------- filters ----


def test_review_queue_filters(as_role, flow, desk, ledger):
    from accounts.services import account_open

    small = flow.in_review("50.00")
    large = flow.in_review("6000.00")  # new-card and large-amount
    bob = ledger.member("Bob Li")
    bob_account = account_open(
        entity=ledger.entity,
        account_type=ledger.types["USER_CASH"],
        member=bob,
        opened_on=timezone.localdate() - timedelta(days=30),
    )
    ledger.recharge(bob_account, Decimal("500.00"))
    bobs = flow.in_review("70.00", account=bob_account)
    client = as_role("Reviewer")

    def shown(**params):
        body = text(client.get(reverse("withdrawals:review"), params))
        return {w.id for w in (small, large, bobs) if f'id="w-{w.id}"' in body}

    assert shown() == {small.id, large.id, bobs.id}
    assert shown(amount_min="60", amount_max="100") == {bobs.id}
    assert shown(member="bob") == {bobs.id}
    assert shown(member=bob.member_no) == {bobs.id}
    assert shown(member="alice") == {small.id, large.id}
    assert shown(rule="large-amount") == {large.id}
    assert shown(rule="new-card") == {small.id, large.id, bobs.id}
    with as_owner_bypassing_guards():  # fixed at request for any runtime connection
        Withdrawal.objects.filter(pk=small.pk).update(created_at=timezone.now() - timedelta(minutes=90))
    assert shown(older_than="60") == {small.id}
    body = text(client.get(reverse("withdrawals:review")))
    assert body.index(f'id="w-{small.id}"') < body.index(f'id="w-{large.id}"')  # oldest first


def test_payout_queue_filters(as_role, flow):
    approved, failed = flow.approved("40.00"), flow.failed("30.00")
    client = as_role("Cashier")

    def shown(**params):
        body = text(client.get(reverse("withdrawals:payout"), params))
        return {w.id for w in (approved, failed) if f'id="w-{w.id}"' in body}

    assert shown() == {approved.id, failed.id}
    assert shown(status="failed") == {failed.id}
    assert shown(amount_min="35") == {approved.id}
    assert shown(currency="HKD") == set()


@pytest.mark.local_afternoon  # "created today": made and filtered on one local day
def test_all_withdrawals_filters(as_role, flow, desk):
    paid = flow.paid("12.00")
    review = flow.in_review("100.00")
    failed_b = flow.sent(flow.approved("30.00", card_number=CARD_CLOSED), bank=desk.bank_b)
    with as_owner_bypassing_guards():  # fixed at request for any runtime connection
        Withdrawal.objects.filter(pk=paid.pk).update(created_at=timezone.now() - timedelta(days=3))
    client = as_role("Auditor")

    def shown(**params):
        body = text(client.get(reverse("withdrawals:list"), params))
        return {w.id for w in (paid, review, failed_b) if f'id="w-{w.id}"' in body}

    assert shown() == {paid.id, review.id, failed_b.id}
    assert shown(status=["paid", "failed"]) == {paid.id, failed_b.id}
    assert shown(bank=desk.bank_b.pk) == {failed_b.id}
    assert shown(bank=desk.bank_a.pk) == {paid.id}
    assert shown(amount_min="20", amount_max="50") == {failed_b.id}
    assert shown(member="alice") == {paid.id, review.id, failed_b.id}
    assert shown(member="nobody") == set()
    assert shown(currency="CNY") == {paid.id, review.id, failed_b.id}
    assert shown(currency="USD") == set()
    today = timezone.localdate().isoformat()
    assert shown(created_from=today) == {review.id, failed_b.id}
    assert shown(created_to=(timezone.localdate() - timedelta(days=1)).isoformat()) == {paid.id}


def test_all_withdrawals_paginates(as_role, flow):
    ids = [flow.in_review("1.00").id for _ in range(52)]
    client = as_role("Auditor")
    first = text(client.get(reverse("withdrawals:list")))
    assert "page 1 of 2" in first
    second = text(client.get(reverse("withdrawals:list"), {"page": 2}))
    assert f'id="w-{ids[0]}"' in second and f'id="w-{ids[0]}"' not in first  # newest first


# ------------------------------------------------------------------ CSV ----


def test_csv_export_of_the_filtered_list(as_role, flow, desk):
    paid = flow.paid("12.00")
    review = flow.in_review("100.50")
    response = as_role("Auditor").get(reverse("withdrawals:export"), {"status": "paid"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.streaming  # sent a row at a time, never held whole
    body = text(response)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["id"]) for r in rows] == [paid.id]
    row = rows[0]
    assert row["status"] == "paid"
    assert row["amount"] == "12.00" and row["fee"] == "2.00" and row["total"] == "14.00"
    assert row["currency"] == "CNY"
    assert row["card_masked"] == paid.card_masked and "****" in row["card_masked"]
    assert row["last_bank"] == "icbc"
    assert row["member_no"] == paid.member.member_no
    assert row["account_no"] == desk.member_account.account_no
    assert paid.card_number not in body

    everything = list(csv.DictReader(io.StringIO(text(as_role("Auditor").get(reverse("withdrawals:export"))))))
    assert {int(r["id"]) for r in everything} == {paid.id, review.id}
    assert next(r for r in everything if int(r["id"]) == review.id)["amount"] == "100.50"


def test_csv_export_defuses_formulas(as_role, desk, flow):
    w = desk.request("10.00")
    with as_owner_bypassing_guards():  # fixed at request for any runtime connection
        Withdrawal.objects.filter(pk=w.pk).update(card_holder='=HYPERLINK("http://x")')
    rows = list(csv.DictReader(io.StringIO(text(as_role("Auditor").get(reverse("withdrawals:export"))))))
    assert rows[0]["card_holder"].startswith("'=")


# ---------------------------------------------------------- new request ----


def new_request_data(desk, **changes) -> dict:
    data = {
        "account_no": desk.member_account.account_no,
        "amount": "300.00",
        "card_holder": "Alice Zhang",
        "card_bank": "ICBC",
        "card_number": CARD_OK,
        "request_no": "staff-test-1",
    }
    data.update(changes)
    return data


def test_new_request_form_carries_a_request_number(as_role):
    body = text(as_role("Finance staff").get(reverse("withdrawals:new")))
    assert 'type="hidden" name="request_no" value="staff-' in body


def test_new_request_records_it_and_is_idempotent(as_role, desk, django_capture_on_commit_callbacks):
    client = as_role("Finance staff")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("withdrawals:new"), new_request_data(desk), follow=True)
    w = Withdrawal.objects.get(source_system="staff")
    assert response.redirect_chain[-1][0] == reverse("withdrawals:detail", args=[w.id])
    assert any("frozen" in m for m in messages_of(response))
    assert w.created_by == desk.users["Finance staff"]
    assert w.request_no == "staff-test-1" and w.amount == Decimal("300.00")
    assert w.status == Status.IN_REVIEW  # auto-review ran after the commit: new card
    assert CARD_OK not in text(response)

    again = client.post(reverse("withdrawals:new"), new_request_data(desk), follow=True)
    assert again.redirect_chain[-1][0] == reverse("withdrawals:detail", args=[w.id])
    assert any("already recorded" in m for m in messages_of(again))
    assert Withdrawal.objects.filter(source_system="staff").count() == 1
    assert WithdrawalEvent.objects.filter(withdrawal=w, to_status=Status.REQUESTED).count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"card_number": CARD_OK[:-1] + str((int(CARD_OK[-1]) + 1) % 10)}, "card_number", "check digit"),
        ({"card_number": "12ab"}, "card_number", "12 to 19 digits"),
        ({"amount": "200000.00"}, "amount", "available"),
        ({"amount": "0"}, "amount", "greater than zero"),
        ({"amount": "-5"}, "amount", ""),
        ({"amount": "10.001"}, "amount", "decimal places"),
        ({"amount": "abc"}, "amount", "number"),
        ({"account_no": "NOPE"}, "account_no", "No account NOPE"),
        ({"card_holder": ""}, "card_holder", "required"),
    ],
)
def test_new_request_bad_input_creates_nothing(as_role, desk, changes, field, message):
    frozen = desk.ledger.fresh(desk.member_account).frozen
    response = as_role("Finance staff").post(reverse("withdrawals:new"), new_request_data(desk, **changes))
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert message.lower() in " ".join(form.errors[field]).lower()
    assert not Withdrawal.objects.exists()
    assert desk.ledger.fresh(desk.member_account).frozen == frozen
    body = text(response)
    assert 'value="staff-test-1"' in body  # the same request number: fixing and resending stays idempotent
    assert CARD_OK not in body


def test_new_request_on_a_blocked_account_says_so(as_role, desk):
    account_change_status(
        account=desk.member_account, to_status=AccountStatus.DEBIT_BLOCKED, reason="court order", actor="test"
    )
    response = as_role("Finance staff").post(reverse("withdrawals:new"), new_request_data(desk))
    assert response.status_code == 200
    assert "account_no" in response.context["form"].errors
    assert not Withdrawal.objects.exists()


def test_new_request_from_an_internal_account_is_refused(as_role, desk):
    response = as_role("Finance staff").post(
        reverse("withdrawals:new"), new_request_data(desk, account_no=desk.fee_income.account_no)
    )
    assert response.status_code == 200
    assert "cash account" in text(response)
    assert not Withdrawal.objects.exists()


# ------------------------------------------------ resolving a bank flag ----


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("outcome", [services.BANK_PAID, services.BANK_NOT_PAID])
def test_flag_resolve_by_role(as_role, flow, role, outcome):
    w, instruction = flow.flagged()
    response = as_role(role).post(
        reverse("withdrawals:flag_resolve", args=[instruction.id]),
        {
            "outcome": outcome,
            "reason": "statement 2026-12-06 line 14",
            "next": reverse("withdrawals:detail", args=[w.id]),
        },
    )
    expect(response, role, PERMITTED["resolve"])
    instruction.refresh_from_db()
    if role == "Finance staff":
        assert response["Location"] == reverse("withdrawals:detail", args=[w.id])
        assert instruction.attention_resolution == outcome
        assert instruction.attention_resolution_reason == "statement 2026-12-06 line 14"
        assert desk_status(w) == (Status.PAID if outcome == services.BANK_PAID else Status.FAILED)
    else:
        assert instruction.attention_resolved_at is None
        assert desk_status(w) == Status.FAILED


def test_the_resolution_form_is_on_the_detail_page_for_finance_only(as_role, flow):
    w, instruction = flow.flagged()
    url = reverse("withdrawals:detail", args=[w.id])
    action = reverse("withdrawals:flag_resolve", args=[instruction.id])
    for role in ROLES:
        page = text(as_role(role).get(url))
        assert (action in page) == (role == "Finance staff"), role
    # Once resolved, no form: the detail shows the resolution instead.
    as_role("Finance staff").post(action, {"outcome": services.BANK_NOT_PAID, "reason": "not on the statement"})
    page = text(as_role("Finance staff").get(url))
    assert action not in page
    assert "Resolved: the bank did not pay" in page and "not on the statement" in page


@pytest.mark.parametrize(
    "data, message",
    [
        ({"outcome": services.BANK_PAID, "reason": "   "}, "bank statement line"),
        ({"outcome": "maybe", "reason": "x"}, "Say whether the bank paid"),
        ({"reason": "x"}, "Say whether the bank paid"),
    ],
)
def test_a_resolution_without_outcome_or_reason_changes_nothing(as_role, flow, data, message):
    w, instruction = flow.flagged()
    client = as_role("Finance staff")
    response = client.post(reverse("withdrawals:flag_resolve", args=[instruction.id]), data, follow=True)
    assert message in text(response)
    instruction.refresh_from_db()
    assert instruction.attention_resolved_at is None and desk_status(w) == Status.FAILED


# -------------------------------------------------------- one money style ----


def _table(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start : html.index("</table>", start)]


def test_the_detail_tables_say_the_currency_once_per_column(as_role, flow, desk):
    w = flow.paid("1234.50")
    html = text(as_role("Auditor").get(reverse("withdrawals:detail", args=[w.pk])))
    for table_id in ("hold-events", "settlement-entries"):
        table = _table(html, table_id)
        head, body = table.split("</thead>")
        assert '<th class="num">Amount (CNY)</th>' in head
        assert "CNY" not in body, table_id  # not on every cell
        assert re.search(r"<td class=\"num\"><span class=\"amt\">1,23\d\.\d\d</span></td>", body)  # right-aligned
    desk_html = text(as_role("Cashier").get(reverse("withdrawals:payout")))
    assert "CNY" not in _table(desk_html, "in-flight-list").split("</thead>")[1]
