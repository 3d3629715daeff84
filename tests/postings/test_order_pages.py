"""The guarantee order staff pages, per role: who reads the orders list and
an order's page, who may dispute and resolve (finance staff, with a reason);
the list's views (open, disputed, expiring soon, confirmed). Every page and
action is tried by every role."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from postings.models import GuaranteeOrder, OrderEvent
from postings.services import order_confirm, order_dispute
from tests.reports.reporting import staff_user

from .order_books import ensure_order_roles, shop
from .refund_books import ROLES

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(ledger):
    ensure_order_roles()
    s = shop(ledger)
    soon = s.open("o-1", "100.00", confirm_within_days=1)
    later = s.open("o-2", "50.00", confirm_within_days=20)
    done = s.open("o-3", "30.00")
    order_confirm(order_id=done.pk, request_no="c3", actor="mall")
    argued = s.open("o-4", "20.00", confirm_within_days=1)
    order_dispute(order_id=argued.pk, reason="never arrived", request_no="d4", actor="mall")
    s.orders = dict(soon=soon, later=later, done=done, argued=argued)
    return s


def client_of(role: str | None, name: str | None = None) -> Client:
    client = Client()
    client.force_login(staff_user(name or f"u-{(role or 'none').replace(' ', '-').lower()}", role))
    return client


READERS = {"Finance staff", "Auditor", "Ledger admin"}


@pytest.mark.parametrize("role", [*ROLES, None])
def test_who_reads_the_order_pages(role, orders):
    client = client_of(role)
    expected = 200 if role in READERS else 403
    assert client.get(reverse("postings:orders")).status_code == expected
    assert client.get(reverse("postings:order", args=[orders.orders["soon"].pk])).status_code == expected


def test_anonymous_is_sent_to_log_in(orders):
    r = Client().get(reverse("postings:orders"))
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


def listed(client, **params) -> set[int]:
    page = client.get(reverse("postings:orders"), params).content.decode()
    return {o.pk for o in GuaranteeOrder.objects.all() if f'<tr id="o-{o.pk}"' in page}


def test_the_list_shows_open_disputed_expiring_and_confirmed_orders(orders):
    o = {name: order.pk for name, order in orders.orders.items()}
    auditor = client_of("Auditor")
    assert listed(auditor, state="open") == {o["soon"], o["later"], o["argued"]}
    assert listed(auditor, state="disputed") == {o["argued"]}
    # Expiring soon: paid orders confirmed automatically within the days asked
    # (2 by default); the disputed one is never confirmed automatically.
    assert listed(auditor, state="expiring") == {o["soon"]}
    assert listed(auditor, state="expiring", within_days="30") == {o["soon"], o["later"]}
    assert listed(auditor, state="confirmed") == {o["done"]}
    assert listed(auditor, order_no="To-2") == {o["later"]}
    assert listed(auditor, amount_min="40", state="open") == {o["soon"], o["later"]}


@pytest.mark.parametrize("role", [*ROLES, None])
def test_only_finance_staff_dispute_and_resolve(role, orders, ledger):
    soon, argued = orders.orders["soon"], orders.orders["argued"]
    client = client_of(role)
    r1 = client.post(reverse("postings:order_dispute", args=[soon.pk]), {"request_no": "s-d", "reason": "wrong item"})
    r2 = client.post(
        reverse("postings:order_resolve", args=[argued.pk]),
        {"request_no": "s-v", "outcome": "refund", "reason": "buyer's claim upheld"},
    )
    soon.refresh_from_db()
    argued.refresh_from_db()
    if role == "Finance staff":
        assert (r1.status_code, r2.status_code) == (302, 302)
        assert soon.status == "disputed"
        assert (argued.status, argued.balance) == ("refunded", Decimal("0"))
        dispute = OrderEvent.objects.get(order=soon, kind="dispute")
        assert (dispute.reason, dispute.acting_user.username) == ("wrong item", "u-finance-staff")
        assert ledger.balance(orders.buyer) == Decimal("320.00")  # 500 - 100 - 50 - 30 paid, 20 back
    else:
        assert (r1.status_code, r2.status_code) == (403, 403)  # None: logged in, no role
        assert (soon.status, argued.status) == ("paid", "disputed")
        assert ledger.balance(orders.buyer) == Decimal("300.00")


def test_a_dispute_or_resolution_without_a_reason_is_refused_with_a_message(orders):
    soon, argued = orders.orders["soon"], orders.orders["argued"]
    clerk = client_of("Finance staff")
    r = clerk.post(reverse("postings:order_dispute", args=[soon.pk]), {"request_no": "s-d", "reason": ""}, follow=True)
    assert "Not disputed" in r.content.decode()
    r = clerk.post(
        reverse("postings:order_resolve", args=[soon.pk]),
        {"request_no": "s-v", "outcome": "continue", "reason": "fine"},
        follow=True,
    )
    assert f"O{soon.pk} not resolved" in r.content.decode()
    assert GuaranteeOrder.objects.get(pk=soon.pk).status == "paid"
    assert GuaranteeOrder.objects.get(pk=argued.pk).status == "disputed"


def test_the_order_page_offers_each_action_only_where_it_applies(orders):
    clerk, auditor = client_of("Finance staff"), client_of("Auditor")
    soon = clerk.get(reverse("postings:order", args=[orders.orders["soon"].pk])).content.decode()
    assert 'id="dispute"' in soon and 'id="resolve"' not in soon
    argued = clerk.get(reverse("postings:order", args=[orders.orders["argued"].pk])).content.decode()
    assert 'id="resolve"' in argued and 'id="dispute"' not in argued
    assert "never arrived" in argued
    read_only = auditor.get(reverse("postings:order", args=[orders.orders["argued"].pk])).content.decode()
    assert 'id="resolve"' not in read_only and 'id="dispute"' not in read_only
