"""The Auditor reads everything read-only, as the README promises (issue 19
§4): every admin page and every staff page opens, the API call log and the
users included; nothing can be added, changed or deleted, and the server
refuses it (403), whatever the page offers."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from config.api.models import ApiCallLog
from tests.api.conftest import Caller, client_with_key
from tests.reports.reporting import make_books, staff_user
from tests.withdrawals.conftest import desk  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(ledger, desk, django_capture_on_commit_callbacks):  # noqa: F811
    """A little of every kind: books, a withdrawal, an API client and a logged call."""
    books = make_books(ledger)
    books.vouchers_from_entries()
    desk.request("800.00")
    _, key = client_with_key("shop", ["read"])
    with django_capture_on_commit_callbacks(execute=True):
        assert Caller(key).get(f"accounts/{books.alice.account_no}").status_code == 200
    assert ApiCallLog.objects.exists()
    return books


def auditor() -> Client:
    client = Client()
    client.force_login(staff_user("auditor_1", "Auditor"))
    return client


def admin_urls(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_the_auditor_opens_every_admin_list_and_record_read_only(everything):
    client = auditor()
    index = client.get(reverse("admin:index")).content.decode()
    for name in ("API calls", "Users", "Groups", "Accounts (账户)", "Withdrawals (提现)"):
        assert name in index, name
    for model in admin.site._registry:
        listing = client.get(admin_urls(model, "changelist"))
        assert listing.status_code == 200, model
        obj = model._default_manager.first()
        if obj is None:
            continue
        page = client.get(admin_urls(model, "change", obj.pk))
        assert page.status_code == 200, model
        html = page.content.decode()
        assert 'name="_save"' not in html, model  # shown read-only, no Save button


def test_the_auditor_cannot_add_change_or_delete_anything(everything):
    client = auditor()
    refused = []
    for model in admin.site._registry:
        if client.get(admin_urls(model, "add")).status_code != 403:
            refused.append((model.__name__, "add"))
        obj = model._default_manager.first()
        if obj is None:
            continue
        if client.post(admin_urls(model, "change", obj.pk), {}).status_code != 403:
            refused.append((model.__name__, "change"))
        if client.post(admin_urls(model, "delete", obj.pk), {"post": "yes"}).status_code != 403:
            refused.append((model.__name__, "delete"))
    assert refused == []
    assert User.objects.filter(username="auditor_1", is_superuser=False).exists()


def test_the_auditor_reads_every_staff_page_and_may_do_nothing_there(everything, desk):  # noqa: F811
    client = auditor()
    w = desk.request("900.00")
    books = everything
    for name, args in [
        ("withdrawals:dashboard", []),
        ("withdrawals:list", []),
        ("withdrawals:detail", [w.pk]),
        ("reports:balance_sheet", []),
        ("reports:checks", []),
        ("reports:vouchers", []),
        ("reports:gl_imports", []),
        ("reports:eod_runs", []),
        ("reports:charts", []),
        ("reports:hot_accounts", []),
        ("reports:recon_runs", []),
        ("reports:recon_differences", []),
        ("reports:account_entries", [books.alice.account_no]),
        ("reports:certificates", []),
        ("reports:certificates_verify", []),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 200, name
    for name, args in [
        ("withdrawals:approve", [w.pk]),
        ("withdrawals:reject", [w.pk]),
        ("withdrawals:new", []),
        ("withdrawals:payout_send", []),
        ("reports:gl_upload", []),
        ("reports:statement_upload", []),
        ("reports:recon_match", []),
        ("reports:hot_accounts_flush", []),
    ]:
        assert client.post(reverse(name, args=args), {"reason": "audit"}).status_code == 403, name
    assert desk.fresh(w).status == w.status
