"""The hot-accounts page: buffer depth and age per hot account, the live
identity with buffers counted, and the flush button; per role, and in a
real browser."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.models import PostingMode
from postings.models import Entry
from postings.services import Leg, posting_create
from postings.services.buffers import posting_mode_set
from tests.browser import chromium, expect, log_in, screenshot

from .reporting import ALL_ROLES, ensure_report_roles, staff_user

PAGE = reverse("reports:hot_accounts")
FLUSH = reverse("reports:hot_accounts_flush")


def hot_fee_account(ledger, pending: int):
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    member = ledger.cash()
    ledger.recharge(member, "100")
    for _ in range(pending):
        posting_create(
            request_no=ledger.next_request("hot"),
            business_type="fee",
            posted_by="trade",
            legs=[Leg.debit(member.account_no, "1.25"), Leg.credit(fee.account_no, "1.25")],
        )
    return fee


def client_for(role):
    client = Client()
    if role is not None:
        client.force_login(staff_user(f"user-{(role or 'anon').replace(' ', '-').lower()}", role))
    return client


def in_menu(client) -> bool:
    """The page is in the role's menu: Reports in the top menu leads to the
    balance sheet, whose report menu links the hot-accounts page."""
    top = client.get(reverse("reports:eod_runs"))
    if top.status_code != 200 or reverse("reports:balance_sheet") not in top.content.decode():
        return False
    sheet = client.get(reverse("reports:balance_sheet"))
    return sheet.status_code == 200 and f'href="{PAGE}"' in sheet.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_the_roles_with_it_in_their_menu_read_it_and_only_ledger_admins_flush(ledger, role):
    ensure_report_roles()
    fee = hot_fee_account(ledger, 2)
    client = client_for(role)
    page = client.get(PAGE)
    if role is None:
        assert page.status_code == 302 and "/login" in page["Location"]
    else:
        sees = in_menu(client)
        # Reviewers and cashiers read accounts for their desks, but have no Reports menu.
        assert sees == (role in ("Finance staff", "Auditor", "Ledger admin"))
        assert page.status_code == (200 if sees else 403)
        if sees:
            assert fee.account_no in page.content.decode()

    may_flush = role == "Ledger admin"
    response = client.post(FLUSH)
    pending = Entry.objects.filter(account=fee, account_seq__isnull=True).count()
    if may_flush:
        assert response.status_code == 302 and pending == 0
    else:
        assert response.status_code in (302, 403) and pending == 2
        if role is not None:
            assert response.status_code == 403


@pytest.mark.django_db
def test_a_late_buffer_comes_with_its_flush_or_whom_to_ask(ledger, settings):
    ensure_report_roles()
    fee = hot_fee_account(ledger, 1)
    admin = staff_user("wang", "Ledger admin")
    admin.first_name, admin.last_name = "Wei", "Wang"
    admin.save()
    finance, ledger_admin = client_for("Finance staff"), Client()
    ledger_admin.force_login(admin)

    settings.BUFFER_ALERT_SECONDS = 3600  # nothing late yet
    body = finance.get(PAGE).content.decode()
    assert 'id="flush-alert"' not in body and "Flush now" not in body

    settings.BUFFER_ALERT_SECONDS = 0  # every pending entry is late
    body = finance.get(PAGE).content.decode()
    assert 'id="flush-alert"' in body and "1 hot account has entries waiting longer than 0 min" in body
    assert "Flush now" not in body
    assert "Ask the Ledger admin role (Wei Wang)" in body
    row = body[body.index(f'data-account="{fee.account_no}"') :]
    assert " min</td>" in row[: row.index("</tr>")] and " s</td>" not in row[: row.index("</tr>")]

    body = ledger_admin.get(PAGE).content.decode()
    alert = body[body.index('id="flush-alert"') :]
    assert alert.index("Flush now") < alert.index("</div>") and "Ask the" not in body


@pytest.mark.django_db(transaction=True)
def test_ledger_admin_watches_a_hot_account_and_flushes_it_in_a_browser(live_server, ledger):
    ensure_report_roles()
    admin_user = staff_user("ledgeradmin", "Ledger admin").username
    fee = hot_fee_account(ledger, 3)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(page, live_server.url, admin_user)
        page.goto(f"{live_server.url}/reports/eod/")
        page.locator("nav.subnav").get_by_role("link", name="Hot accounts").click()
        row = page.locator(f'#hot-accounts tr[data-account="{fee.account_no}"]')
        expect(row.locator("td.depth")).to_have_text("3")
        expect(row.locator("td.posted")).to_contain_text("0.00")
        expect(row.locator("td.pending")).to_contain_text("3.75")
        expect(row.locator("td.total")).to_contain_text("3.75")
        expect(page.locator("#identity tr.ok")).to_have_count(1)
        screenshot(page, "hot-accounts-01-pending")

        page.get_by_role("button", name="Flush now").click()
        expect(page.locator(".messages")).to_contain_text("3 pending entries applied")
        row = page.locator(f'#hot-accounts tr[data-account="{fee.account_no}"]')
        expect(row.locator("td.depth")).to_have_text("0")
        expect(row.locator("td.posted")).to_contain_text("3.75")
        expect(row.locator("td.age")).to_have_text("–")
        screenshot(page, "hot-accounts-02-flushed")
    assert ledger.balance(fee) == Decimal("3.75")
