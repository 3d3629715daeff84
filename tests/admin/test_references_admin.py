"""Staff find postings, holds and withdrawals by the caller's trade number
and read their metadata in the admin (issue 23 §3), per role."""

from __future__ import annotations

import pytest

from postings.models import Hold, Posting
from postings.services import Leg, hold_place, posting_create
from tests.reports.reporting import ensure_report_roles, staff_user

from .conftest import admin_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def trade(ledger):
    """Trade T-77: a payment and its fee; a posting of another trade; a hold of T-77."""
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100")

    def pay(request_no, amount, **kw):
        return posting_create(
            request_no=request_no,
            business_type="transfer",
            legs=[Leg.debit(payer.account_no, amount), Leg.credit(payee.account_no, amount)],
            posted_by="trade",
            **kw,
        )

    payment = pay("pay-77", "10", trade_no="T-77", metadata={"order_id": "SO-77", "channel": "app"})
    fee = pay("fee-77", "1", trade_no="T-77")
    other = pay("pay-78", "2", trade_no="T-78")
    hold = hold_place(
        account_no=payer.account_no, amount="5", reason="order", request_no="h-77", actor="t", trade_no="T-77"
    )
    return payment, fee, other, hold


def shown(client, model, **params) -> set[int]:
    response = client.get(admin_url(model, "changelist"), params)
    assert response.status_code == 200, response
    return {obj.pk for obj in response.context["cl"].result_list}


def test_the_posting_list_filters_by_trade_number_and_keeps_the_value_in_its_box(admin_client, trade):
    payment, fee, other, _ = trade
    assert shown(admin_client, Posting, trade_no="T-77") == {payment.pk, fee.pk}
    assert shown(admin_client, Posting, trade_no=" T-78 ") == {other.pk}
    assert shown(admin_client, Posting, trade_no="T-77", business_type__exact="fee") == set()
    assert shown(admin_client, Posting, q="T-78") == {other.pk}  # the search box finds it too
    page = admin_client.get(admin_url(Posting, "changelist"), {"trade_no": "T-77"}).text
    assert 'name="trade_no" value="T-77"' in page and "By trade number" in page


def test_a_posting_shows_its_trade_number_and_metadata(admin_client, trade):
    payment, fee, _, _ = trade
    page = admin_client.get(admin_url(Posting, "change", payment.pk)).text
    assert "T-77" in page and "channel: app\norder_id: SO-77" in page
    assert "—" in admin_client.get(admin_url(Posting, "change", fee.pk)).text  # no metadata


def test_holds_filter_by_trade_number(admin_client, trade):
    *_, hold = trade
    assert shown(admin_client, Hold, trade_no="T-77") == {hold.pk}
    assert shown(admin_client, Hold, trade_no="T-78") == set()


@pytest.mark.parametrize(
    ("role", "sees"),
    [("Auditor", True), ("Finance staff", True), ("Ledger admin", True), ("Reviewer", False), ("Cashier", False)],
)
def test_who_finds_postings_by_trade_number(client, trade, role, sees):
    payment, fee, _, _ = trade
    ensure_report_roles()  # as the migrations leave them (a transactional test before may have emptied them)
    client.force_login(staff_user(f"u-{role}", role))
    response = client.get(admin_url(Posting, "changelist"), {"trade_no": "T-77"})
    if sees:
        assert response.status_code == 200
        assert {p.pk for p in response.context["cl"].result_list} == {payment.pk, fee.pk}
    else:
        assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_finance_types_a_trade_number_and_reads_its_postings(live_server, admin_user, trade):
    from tests.browser import chromium, expect, screenshot

    payment, *_ = trade
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "password")
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{live_server.url}{admin_url(Posting, 'changelist')}?business_type__exact=transfer")
        page.fill("#id_filter_trade_no", "T-77")
        page.locator("#changelist-filter form.exact-text-filter input[type=submit]").click()
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#id_filter_trade_no")).to_have_value("T-77")
        # The other filter in force was kept by the form.
        assert "business_type__exact=transfer" in page.url
        screenshot(page, "admin-postings-by-trade-number")
        page.get_by_role("link", name=str(payment.serial_no), exact=True).click()
        expect(page.locator(".field-metadata_display pre")).to_have_text("channel: app\norder_id: SO-77")
        expect(page.locator(".field-trade_no")).to_contain_text("T-77")
        screenshot(page, "admin-posting-with-metadata")
