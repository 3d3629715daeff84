"""Every admin list and detail page renders, with the book's data on it."""

from __future__ import annotations

import pytest

from accounts.models import AccountStatusChange, AccountType, Customer, Entity, Member
from accounts.services import account_change_status
from postings.models import Entry, HoldEvent, PostingRule

from .conftest import admin_url

pytestmark = pytest.mark.django_db


def test_changelists_show_the_book(admin_client, book):
    alice = book.alice
    expectations = {
        Entity: ["MAIN"],
        Customer: ["Alice"],
        Member: [alice.member.member_no],
        AccountType: ["USER_CASH", "2241"],
        # 100 + 250 + 5 - 5 - 10 settled = 340, of which 20 still held. The
        # lists with a currency column show bare amounts; the others, the code.
        type(alice): [alice.account_no, ">340.00<", ">20.00<", ">320.00<", f"?account__id__exact={alice.pk}"],
        type(book.recharge): ["rc-today", "rv-small"],
        Entry: [alice.account_no, ">250.00<", ">350.00<"],  # 100 before, so 350 after
        type(book.hold): ["hold-w1", ">CNY<", ">30.00<", ">20.00<"],
        HoldEvent: ["settle (扣除冻结)"],
        PostingRule: ["recharge (充值)"],
    }
    for model, texts in expectations.items():
        response = admin_client.get(admin_url(model, "changelist"))
        assert response.status_code == 200, model
        for text in texts:
            assert text in response.text, (model.__name__, text)


def test_change_pages_render(admin_client, book):
    status_change = account_change_status(
        account=book.shop, to_status="debit_blocked", reason="KYC review", actor="ops"
    )
    objects = [
        book.alice.entity,
        book.alice.member.customer,
        book.alice.member,
        book.alice.account_type,
        book.alice,
        book.alice_credit,
        book.channel,
        AccountStatusChange.objects.get(account=status_change),
        book.recharge,
        book.reversal,
        book.recharge.entries.first(),
        book.hold,
        book.hold.events.first(),
        PostingRule.objects.get(business_type="recharge"),
    ]
    for obj in objects:
        response = admin_client.get(admin_url(type(obj), "change", obj.pk))
        assert response.status_code == 200, obj


def test_add_pages_render_for_what_staff_may_add(admin_client, db):
    for model in (Entity, Customer, Member, AccountType, PostingRule):
        assert admin_client.get(admin_url(model, "add")).status_code == 200, model


def test_account_page_links_to_its_entries_and_shows_holds(admin_client, book):
    response = admin_client.get(admin_url(type(book.alice), "change", book.alice.pk))
    assert f"?account__id__exact={book.alice.pk}" in response.text
    assert "Entries of this account" in response.text
    assert "withdrawal W1" in response.text  # the recent hold

    entries = admin_client.get(admin_url(Entry, "changelist"), {"account__id__exact": book.alice.pk})
    shown = {e.serial_no for e in entries.context["cl"].result_list}
    assert shown == set(Entry.objects.filter(account=book.alice).values_list("serial_no", flat=True))
    assert book.alice.account_no in entries.text  # the account filter names it


def test_posting_page_lists_its_entries_and_reversal_links(admin_client, book):
    response = admin_client.get(admin_url(type(book.recharge), "change", book.reversed_recharge.pk))
    assert book.alice.account_no in response.text and book.channel.account_no in response.text
    assert ">5.00<" in response.text
    assert f"P{book.reversal.serial_no}" in response.text  # reversed by

    reversal = admin_client.get(admin_url(type(book.recharge), "change", book.reversal.pk))
    assert f"P{book.reversed_recharge.serial_no}" in reversal.text  # reverses


def test_member_page_shows_its_accounts(admin_client, book):
    response = admin_client.get(admin_url(Member, "change", book.alice.member.pk))
    assert book.alice.account_no in response.text
    assert book.alice_credit.account_no in response.text
    assert ">340.00<" in response.text
