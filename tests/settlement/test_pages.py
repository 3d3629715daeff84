"""The settlement staff pages, per role: who reads merchants due and done,
the channel batches and a batch's covered entries, the reserve-fund check;
who may run a channel settlement and record or import bank balances. Every
page and action is tried by every role."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from reports.settlement.models import ChannelSettlement, ReserveBalance, ReserveBankAccount
from reports.settlement.services import channel_settle
from tests.reports.reporting import staff_user

from .books import D, channel, ensure_settlement_roles, on_day, pay, recharge, t_plus

pytestmark = pytest.mark.django_db

ROLES = ["Finance staff", "Auditor", "Ledger admin", "Reviewer", "Cashier", None]
READS = {"Finance staff", "Auditor", "Ledger admin"}
ACTS = {"Finance staff"}


@pytest.fixture
def books(ledger):
    ensure_settlement_roles()
    term, available, pending = t_plus(ledger, 1)
    buyer = ledger.cash()
    ledger.recharge(buyer, "100")
    on_day(ledger.entity, date(2026, 11, 6))
    pay(ledger, buyer, pending, "60.00")
    channel(ledger)
    recharge(ledger, ledger.cash(), "25.00", "P1")
    batch = channel_settle(channel_code="bank1", settled_by="finance")
    bank = ReserveBankAccount.objects.create(entity=ledger.entity, bank="ICBC", account_no="6222000011112222")
    return {"term": term, "available": available, "pending": pending, "batch": batch, "bank": bank}


def client_of(role: str | None) -> Client:
    from django.contrib.auth.models import User

    name = f"u-{(role or 'none').replace(' ', '-').lower()}"
    client = Client()
    client.force_login(User.objects.filter(username=name).first() or staff_user(name, role))
    return client


@pytest.mark.parametrize("role", ROLES)
def test_who_reads_the_settlement_pages(role, books):
    client = client_of(role)
    expected = 200 if role in READS else 403
    for url in (
        reverse("reports:settlement_due"),
        reverse("reports:settlement_done"),
        reverse("reports:settlement_channels"),
        reverse("reports:settlement_channel", args=[books["batch"].pk]),
        reverse("reports:settlement_reserve"),
    ):
        assert client.get(url).status_code == expected, url


@pytest.mark.parametrize("role", ROLES)
def test_who_runs_a_channel_settlement(role, books, ledger):
    recharge(ledger, ledger.cash(), "5.00", "P2")
    r = client_of(role).post(reverse("reports:settlement_channel_settle"), {"channel": "bank1"})
    if role in ACTS:
        batch = ChannelSettlement.objects.latest("pk")
        assert r.status_code == 302 and r["Location"] == reverse("reports:settlement_channel", args=[batch.pk])
        assert batch.net == D("5.00")
    else:
        assert r.status_code == 403
        assert ChannelSettlement.objects.count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_who_records_a_bank_balance(role, books):
    form = {"bank_account": books["bank"].pk, "balance_date": "2026-11-06", "balance": "1,000.00"}
    r = client_of(role).post(reverse("reports:settlement_reserve_enter"), form)
    assert r.status_code == (302 if role in ACTS else 403)
    assert ReserveBalance.objects.count() == (1 if role in ACTS else 0)
    upload = SimpleUploadedFile("b.csv", b"bank_account_no,date,balance\n6222000011112222,2026-11-07,5.00\n")
    r = client_of(role).post(reverse("reports:settlement_reserve_upload"), {"file": upload})
    assert r.status_code == (302 if role in ACTS else 403)


def test_the_pages_show_what_they_are_about(books, ledger):
    client = client_of("Finance staff")
    due = client.get(reverse("reports:settlement_due")).content.decode()
    assert books["pending"].account_no in due and "2026-11-06 → 2026-11-09" in due
    batch = client.get(reverse("reports:settlement_channel", args=[books["batch"].pk])).content.decode()
    assert "P1" in batch and "25.00" in batch
    entries = client.get(reverse("reports:account_entries", args=[books["available"].account_no])).content.decode()
    assert re.search(r"id=\"settlement-pending\"><span[^>]*>60.00<", entries), entries[
        entries.find("<dl") : entries.find("</dl>")
    ]


def test_a_balance_file_is_previewed_then_recorded_once(books, ledger):
    client = client_of("Finance staff")
    content = b"bank_account_no,date,balance\n6222000011112222,2026-11-06,80.00\n"
    r = client.post(reverse("reports:settlement_reserve_upload"), {"file": SimpleUploadedFile("b.csv", content)})
    preview = r["Location"]
    assert "80.00" in client.get(preview).content.decode()
    assert ReserveBalance.objects.count() == 0  # nothing before the confirmation
    client.post(preview)
    client.post(preview)  # sent twice: recorded once
    assert list(ReserveBalance.objects.values_list("balance", flat=True)) == [D("80.00")]
    bad = b"bank_account_no,date,balance\n999,2026-11-06,1.00\n6222000011112222,2026-13-01,1\n"
    r = client.post(
        reverse("reports:settlement_reserve_upload"), {"file": SimpleUploadedFile("x.csv", bad)}, follow=True
    )
    page = r.content.decode()
    assert "line 2: no active reserve-fund bank account 999" in page and "line 3:" in page
    assert ReserveBalance.objects.count() == 1


def test_the_reserve_check_and_the_dashboard_show_the_difference(books, ledger):
    # Customer liabilities now: every member cash balance (live: the day is open).
    from django.db.models import Sum

    from accounts.models import Account

    owed = Account.objects.filter(category="liability").aggregate(t=Sum("balance"))["t"]
    day = date(2026, 11, 6)
    client = client_of("Finance staff")
    client.post(
        reverse("reports:settlement_reserve_enter"),
        {"bank_account": books["bank"].pk, "balance_date": day.isoformat(), "balance": "100.00"},
    )
    page = client.get(reverse("reports:settlement_reserve"), {"day": day.isoformat()}).content.decode()
    difference = D("100.00") - owed
    assert f"{difference:,.2f}" in page
    dashboard = client.get(reverse("withdrawals:dashboard")).content.decode()
    assert 'id="tile-reserve-MAIN-CNY"' in dashboard and f"{difference:,.2f}" in dashboard
