"""The ledger's history cannot be written from the admin, not even by a
superuser: no add, change or delete of postings, entries, holds, hold events
or status history, and no deleting of accounts."""

from __future__ import annotations

import pytest

from accounts.models import Account, AccountStatusChange
from accounts.services import account_change_status
from postings.models import Entry, Hold, HoldEvent, Posting

from .conftest import admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(book):
    change = account_change_status(account=book.shop, to_status="blocked", reason="fraud check", actor="ops")
    return [
        book.recharge,
        book.recharge.entries.first(),
        book.hold,
        book.hold.events.first(),
        AccountStatusChange.objects.get(account=change),
    ]


def test_add_change_and_delete_are_refused_even_to_a_superuser(admin_client, history):
    for obj in history:
        model = type(obj)
        assert admin_client.get(admin_url(model, "add")).status_code == 403, model
        assert admin_client.post(admin_url(model, "add"), {}).status_code == 403, model
        assert admin_client.get(admin_url(model, "delete", obj.pk)).status_code == 403, model
        assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model
        assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403, model
        # Looking is allowed, and the page offers no save or delete.
        view = admin_client.get(admin_url(model, "change", obj.pk))
        assert view.status_code == 200
        assert 'name="_save"' not in view.text
        assert "deletelink" not in view.text
        assert model.objects.filter(pk=obj.pk).exists()


def test_posting_an_edited_entry_changes_nothing(admin_client, book):
    entry = book.recharge.entries.get(account=book.alice)
    response = admin_client.post(
        admin_url(Entry, "change", entry.pk),
        {"amount": "999999", "balance_after": "999999", "direction": "D", "_save": "Save"},
    )
    assert response.status_code == 403
    fresh = Entry.objects.get(pk=entry.pk)
    assert (fresh.amount, fresh.balance_after, fresh.direction) == (entry.amount, entry.balance_after, entry.direction)


def test_changelists_offer_no_add_button_and_no_delete_action(admin_client, book):
    for model in (Posting, Entry, Hold, HoldEvent, AccountStatusChange, Account):
        response = admin_client.get(admin_url(model, "changelist"))
        assert response.status_code == 200
        assert "delete_selected" not in response.text, model
        if model is not Account:
            assert admin_url(model, "add") not in response.text, model


def test_accounts_are_never_deleted(admin_client, book):
    assert admin_client.get(admin_url(Account, "delete", book.shop.pk)).status_code == 403
    assert admin_client.post(admin_url(Account, "delete", book.shop.pk), {"post": "yes"}).status_code == 403
    assert Account.objects.filter(pk=book.shop.pk).exists()


def test_inlines_on_a_posting_are_read_only(admin_client, book):
    response = admin_client.get(admin_url(Posting, "change", book.recharge.pk))
    (entries,) = response.context["inline_admin_formsets"]
    assert not entries.has_add_permission
    assert not entries.has_change_permission
    assert not entries.has_delete_permission
