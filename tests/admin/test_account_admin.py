"""Accounts in the admin: opening, credit limits and status changes all go
through accounts.services; refusals come back as messages."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from accounts.models import Account, AccountPostingModeChange, AccountStatus, AccountStatusChange, CreditLimitChange
from accounts.services import account_number
from postings.services.buffers import posting_mode_set

from .conftest import admin_url, inline_management, messages_of

pytestmark = pytest.mark.django_db


def run_action(client, action: str, accounts, reason: str | None):
    """Pick the action on the list, then confirm it with a reason (if given)."""
    data = {"action": action, "_selected_action": [a.pk for a in accounts]}
    if reason is not None:
        data.update(apply="Yes", reason=reason)
    return client.post(admin_url(Account, "changelist"), data, follow=True)


# -------------------------------------------------------------- opening ----


def test_adding_an_account_opens_it_through_the_service(admin_client, ledger):
    member = ledger.member("Carol")
    cash_type = ledger.types["USER_CASH"]
    response = admin_client.post(
        admin_url(Account, "add"),
        {
            "entity": ledger.entity.pk,
            "account_type": cash_type.pk,
            "member": member.pk,
            "currency": "CNY",
            "name": "",
            "credit_limit": "0",
            "_save": "Save",
        },
        follow=True,
    )
    assert response.status_code == 200
    account = Account.objects.get(member=member)
    assert re.fullmatch(r"\d{17}", account.account_no)
    assert account.account_no == account_number(subject_code="2241", entity_id=ledger.entity.pk, account_id=account.pk)
    assert (account.category, account.allow_negative, account.name) == ("liability", False, "Carol")
    assert account.balance == 0 and account.status == AccountStatus.ACTIVE
    assert any(account.account_no in m for m in messages_of(response))


def test_adding_an_internal_account_with_a_member_is_refused_with_a_message(admin_client, ledger):
    member = ledger.member("Dave")
    fee_type = ledger.types["FEE_INCOME"]
    data = {
        "entity": ledger.entity.pk,
        "account_type": fee_type.pk,
        "member": member.pk,
        "currency": "CNY",
        "name": "fees",
        "credit_limit": "0",
        "_save": "Save",
    }
    response = admin_client.post(admin_url(Account, "add"), data)
    assert response.status_code == 302
    # Back on the add form, filled with what was entered.
    assert response.url.startswith(admin_url(Account, "add") + "?")
    form = admin_client.get(response.url)
    assert "Internal accounts (内部户) belong to no member." in messages_of(form)
    assert form.context["adminform"].form.initial["name"] == "fees"
    assert not Account.objects.filter(account_type=fee_type, name="fees").exists()


def test_adding_a_second_fee_income_account_is_refused_with_a_message(admin_client, ledger):
    first = ledger.internal("FEE_INCOME")
    fee_type = ledger.types["FEE_INCOME"]
    data = {
        "entity": ledger.entity.pk,
        "account_type": fee_type.pk,
        "member": "",
        "currency": "CNY",
        "name": "fees 2",
        "credit_limit": "0",
        "_save": "Save",
    }
    response = admin_client.post(admin_url(Account, "add"), data)
    assert response.status_code == 302 and response.url.startswith(admin_url(Account, "add") + "?")
    shown = messages_of(admin_client.get(response.url))
    assert any("already has an open FEE_INCOME" in m and first.account_no in m for m in shown), shown
    assert list(Account.objects.filter(account_type=fee_type)) == [first]


def test_the_add_form_asks_only_what_opening_needs(admin_client, db):
    form = admin_client.get(admin_url(Account, "add")).context["adminform"].form
    assert set(form.fields) == {"entity", "account_type", "member", "currency", "name", "credit_limit"}
    assert form.initial["currency"] == "CNY"


# ----------------------------------------------------------- change form ----


def test_balances_and_identity_are_read_only_on_the_change_form(admin_client, book):
    response = admin_client.get(admin_url(Account, "change", book.alice.pk))
    assert set(response.context["adminform"].form.fields) <= {"name", "credit_limit", "reason"}
    assert "credit_limit" not in response.context["adminform"].form.fields  # a wallet has no credit line


def test_renaming_writes_only_the_name(admin_client, book):
    url = admin_url(Account, "change", book.alice.pk)
    data = {
        "name": "Alice Wong",
        "balance": "1000000",
        "status": "closed",
        "account_no": "1",
        "_save": "Save",
        **inline_management(admin_client.get(url)),
    }
    assert admin_client.post(url, data).status_code == 302
    fresh = Account.objects.get(pk=book.alice.pk)
    assert fresh.name == "Alice Wong"
    assert (fresh.balance, fresh.status, fresh.account_no) == (book.alice.balance, "active", book.alice.account_no)


def test_credit_limit_change_needs_a_reason_and_is_recorded(admin_client, book):
    account = book.alice_credit
    url = admin_url(Account, "change", account.pk)
    base = {"name": account.name, "_save": "Save", **inline_management(admin_client.get(url))}

    response = admin_client.post(url, {**base, "credit_limit": "2000", "reason": ""})
    assert response.status_code == 200
    assert "A reason is required" in response.text
    assert Account.objects.get(pk=account.pk).credit_limit == Decimal("1000")

    assert admin_client.post(url, {**base, "credit_limit": "2000", "reason": "good payer"}).status_code == 302
    assert Account.objects.get(pk=account.pk).credit_limit == Decimal("2000")
    change = CreditLimitChange.objects.get(account=account)
    assert (change.changed_by, change.old_limit, change.new_limit, change.reason) == (
        "admin",
        Decimal("1000"),
        Decimal("2000"),
        "good payer",
    )
    assert not AccountStatusChange.objects.filter(account=account).exists()


def test_credit_limit_below_what_is_used_is_allowed_and_recorded(admin_client, book):
    account = book.alice_credit  # 300 used
    url = admin_url(Account, "change", account.pk)
    data = {
        "name": "renamed",
        "credit_limit": "200",
        "reason": "cut",
        "_save": "Save",
        **inline_management(admin_client.get(url)),
    }
    assert admin_client.post(url, data).status_code == 302
    fresh = Account.objects.get(pk=account.pk)
    assert (fresh.credit_limit, fresh.name, fresh.available) == (Decimal("200"), "renamed", Decimal("-100"))
    change = CreditLimitChange.objects.get(account=account)
    assert (change.used, change.over_limit) == (Decimal("300"), True)


# -------------------------------------------------------- status actions ----


def test_block_asks_for_a_reason_first(admin_client, book):
    response = run_action(admin_client, "block", [book.alice], reason=None)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/accounts/account/change_status.html"
    assert book.alice.account_no in response.text
    assert Account.objects.get(pk=book.alice.pk).status == AccountStatus.ACTIVE


def test_block_with_a_reason_blocks_and_records_it(admin_client, book):
    response = run_action(admin_client, "block", [book.alice], reason="fraud check 4711")
    assert response.status_code == 200
    assert Account.objects.get(pk=book.alice.pk).status == AccountStatus.BLOCKED
    change = AccountStatusChange.objects.get(account=book.alice)
    assert (change.from_status, change.to_status, change.reason, change.changed_by) == (
        "active",
        "blocked",
        "fraud check 4711",
        "admin",
    )
    assert any("1 account(s) now blocked" in m for m in messages_of(response))

    run_action(admin_client, "unblock", [book.alice], reason="cleared")
    assert Account.objects.get(pk=book.alice.pk).status == AccountStatus.ACTIVE


def test_an_empty_reason_is_asked_again(admin_client, book):
    response = run_action(admin_client, "debit_block", [book.alice], reason="  ")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert Account.objects.get(pk=book.alice.pk).status == AccountStatus.ACTIVE


def test_closing_an_account_with_a_balance_is_refused_with_a_message(admin_client, book, ledger):
    empty = ledger.cash(book.alice.member)
    response = run_action(admin_client, "close", [book.alice, empty], reason="customer request")
    assert response.status_code == 200
    errors = [m for m in messages_of(response) if "still has a balance" in m]
    assert len(errors) == 1 and book.alice.account_no in errors[0]
    assert "a balance of CNY 340.00 and CNY 20.00 frozen" in errors[0]  # as finance reads money, not 340.0000
    assert Account.objects.get(pk=book.alice.pk).status == AccountStatus.ACTIVE
    # The other, empty account was closed all the same.
    assert Account.objects.get(pk=empty.pk).status == AccountStatus.CLOSED
    assert not AccountStatusChange.objects.filter(account=book.alice).exists()


def test_status_actions_need_change_permission(client, django_user_model, book):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(viewer)
    response = client.get(admin_url(Account, "changelist"))
    assert response.status_code == 200
    assert 'value="block"' not in response.text
    run_action(client, "block", [book.alice], reason="sneaky")
    assert Account.objects.get(pk=book.alice.pk).status == AccountStatus.ACTIVE


def test_making_an_account_buffered_shows_in_its_posting_mode_history(admin_client, ledger):
    fee = ledger.internal("FEE_INCOME")
    run_action(admin_client, "make_buffered", [fee], reason=None)
    assert Account.objects.get(pk=fee.pk).posting_mode == "buffered"
    change = AccountPostingModeChange.objects.get(account=fee)
    assert (change.from_mode, change.to_mode, change.changed_by) == ("realtime", "buffered", "admin")
    page = admin_client.get(admin_url(Account, "change", fee.pk))
    history = [i for i in page.context["inline_admin_formsets"] if i.formset.model is AccountPostingModeChange]
    assert len(history) == 1 and len(history[0].formset.queryset) == 1
    assert "Posting mode history" in page.text and "buffered (缓冲记账)" in page.text


@pytest.mark.parametrize(
    "role,sees",
    [("Auditor", True), ("Finance staff", True), ("Ledger admin", True), ("Reviewer", False), ("Cashier", False)],
)
def test_who_reads_the_posting_mode_history(client, ledger, role, sees):
    from tests.reports.reporting import staff_user

    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode="buffered", account=fee, actor="ops-li")
    client.force_login(staff_user(f"u-{role}", role))
    page = client.get(admin_url(Account, "change", fee.pk))
    assert page.status_code == 200
    assert ("Posting mode history" in page.text and "ops-li" in page.text) is sees
