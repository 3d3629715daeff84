"""Finance edits the chart in the admin; code, category and sign rule are
fixed once an account uses the type."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts.admin import AccountTypeAdmin
from accounts.kernel.governance import setting_change_approve
from accounts.kernel.models import SettingChange
from accounts.models import AccountType
from postings.models import PostingRule

from .conftest import admin_url, messages_of

pytestmark = pytest.mark.django_db


def approved_by_a_second_admin() -> None:
    """A save in the admin only proposes (maker-checker): another admin approves it."""
    checker = User.objects.filter(username="checker").first() or User.objects.create_superuser("checker")
    setting_change_approve(
        acting_user=checker, change_id=SettingChange.objects.filter(status="proposed").latest("id").pk
    )


def type_data(account_type: AccountType, **changes) -> dict:
    data = {
        "code": account_type.code,
        "name": account_type.name,
        "category": account_type.category,
        "subject_code": account_type.subject_code,
        "allow_negative": "on" if account_type.allow_negative else "",
        "posting_mode": account_type.posting_mode,
        "description": account_type.description,
        "_save": "Save",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_a_used_type_shows_code_category_and_sign_rule_read_only(admin_client, book):
    cash = book.alice.account_type
    form = admin_client.get(admin_url(AccountType, "change", cash.pk)).context["adminform"].form
    assert not {"code", "category", "allow_negative"} & set(form.fields)
    assert {"name", "subject_code", "description"} <= set(form.fields)


def test_changing_a_used_types_category_is_refused(admin_client, book):
    cash = book.alice.account_type
    response = admin_client.post(
        admin_url(AccountType, "change", cash.pk), type_data(cash, category="asset", name="Wallet (用户余额)")
    )
    assert response.status_code == 302
    approved_by_a_second_admin()
    fresh = AccountType.objects.get(pk=cash.pk)
    assert fresh.category == "liability"
    assert fresh.name == "Wallet (用户余额)"  # what may change, did


def test_a_type_first_used_while_the_form_was_open_is_refused_with_a_message(admin_client, book, monkeypatch):
    # The form was loaded when no account used the type, so it still offers
    # the category; the service refuses when saving.
    monkeypatch.setattr(AccountTypeAdmin, "get_readonly_fields", lambda self, request, obj=None: ())
    cash = book.alice.account_type
    response = admin_client.post(
        admin_url(AccountType, "change", cash.pk), type_data(cash, category="asset", name="renamed"), follow=True
    )
    assert response.status_code == 200
    assert any("cannot change" in m for m in messages_of(response))
    fresh = AccountType.objects.get(pk=cash.pk)
    assert (fresh.category, fresh.name) == ("liability", cash.name)


def test_an_unused_type_can_still_be_reshaped(admin_client, db):
    response = admin_client.post(
        admin_url(AccountType, "add"),
        {
            "code": "MERCHANT_CASH",
            "name": "Merchant cash",
            "category": "liability",
            "subject_code": "2241",
            "posting_mode": "realtime",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert not AccountType.objects.filter(code="MERCHANT_CASH").exists()  # proposed, not yet in force
    approved_by_a_second_admin()
    new = AccountType.objects.get(code="MERCHANT_CASH")
    response = admin_client.post(
        admin_url(AccountType, "change", new.pk), type_data(new, category="internal", allow_negative="on")
    )
    assert response.status_code == 302
    approved_by_a_second_admin()
    new.refresh_from_db()
    assert (new.category, new.allow_negative) == ("internal", True)


def rule_data(legs: list[dict], **fields) -> dict:
    data = {
        "business_type": "refund",
        "description": "Refund: Dr merchant / Cr member",
        "active": "on",
        "legs-TOTAL_FORMS": len(legs),
        "legs-INITIAL_FORMS": 0,
        "_save": "Save",
        **fields,
    }
    for i, leg in enumerate(legs):
        data.update({f"legs-{i}-{k}": v for k, v in {"position": i, "amount_expr": "amount", **leg}.items()})
    return data


def test_finance_configures_a_posting_rule_with_its_legs(admin_client, db):
    response = admin_client.post(
        admin_url(PostingRule, "add"),
        rule_data(
            [
                {"direction": "D", "account_param": "merchant_account"},
                {"direction": "C", "account_param": "member_account"},
            ]
        ),
    )
    assert response.status_code == 302
    approved_by_a_second_admin()
    rule = PostingRule.objects.get(business_type="refund")
    assert [(leg.direction, leg.account_param) for leg in rule.legs.all()] == [
        ("D", "merchant_account"),
        ("C", "member_account"),
    ]


def test_a_rule_leg_naming_two_account_sources_is_a_form_error(admin_client, ledger):
    fee_type = ledger.types["FEE_INCOME"]
    response = admin_client.post(
        admin_url(PostingRule, "add"),
        rule_data(
            [
                {"direction": "D", "account_param": "merchant_account", "internal_account_type": fee_type.pk},
                {"direction": "C", "account_param": "member_account"},
            ]
        ),
    )
    assert response.status_code == 200
    assert "rule_leg_one_account_source" in response.text
    assert not PostingRule.objects.filter(business_type="refund").exists()
