"""The refund staff pages, per role: who sees the posting page, the refunds
list, a refund's detail and the approval queue; who may refund and who may
approve (never the proposer). Every page and action is tried by every role."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from postings.models import Refund, RefundPolicy, RefundStatus
from postings.services import refund_create
from tests.reports.reporting import staff_user

from .refund_books import ROLES, ensure_refund_roles, payment_with_fee_and_share

pytestmark = pytest.mark.django_db


@pytest.fixture
def payment(ledger):
    ensure_refund_roles()
    return payment_with_fee_and_share(ledger)


def client_of(role: str | None, name: str | None = None) -> Client:
    client = Client()
    client.force_login(staff_user(name or f"u-{(role or 'none').replace(' ', '-').lower()}", role))
    return client


PAGE_ACCESS = {
    # role: (posting page, refunds list / detail / queue)
    "Finance staff": (200, 200),
    "Auditor": (200, 200),
    "Ledger admin": (200, 200),
    "Reviewer": (403, 403),
    "Cashier": (403, 403),
    None: (403, 403),
}


@pytest.mark.parametrize("role", list(PAGE_ACCESS))
def test_who_reads_the_refund_pages(role, payment):
    done = refund_create(serial_no=payment.serial_no, request_no="r1", amount="30.00", requested_by="trade")
    client = client_of(role)
    posting_status, refund_status = PAGE_ACCESS[role]
    assert client.get(reverse("postings:posting", args=[payment.serial_no])).status_code == posting_status
    for url in (
        reverse("postings:refunds"),
        reverse("postings:refund", args=[done.pk]),
        reverse("postings:refund_approvals"),
    ):
        assert client.get(url).status_code == refund_status, url


def test_anonymous_is_sent_to_log_in(payment):
    r = Client().get(reverse("postings:refunds"))
    assert r.status_code == 302 and "/admin/login/" in r["Location"]


@pytest.mark.parametrize("role", ROLES)
def test_only_finance_staff_refund_from_the_posting_page(role, payment, ledger):
    client = client_of(role)
    r = client.post(
        reverse("postings:refund_create", args=[payment.serial_no]),
        {"request_no": f"staff-{role}", "amount": "10.00", "reason": ""},
    )
    if role == "Finance staff":
        refund = Refund.objects.get()
        assert r.status_code == 302 and r["Location"] == reverse("postings:refund", args=[refund.pk])
        assert refund.status == RefundStatus.POSTED
        assert ledger.balance(payment.accounts["alice"]) == Decimal("410.00")
    else:
        assert r.status_code == 403
        assert not Refund.objects.exists()


def test_the_posting_page_shows_every_legs_refunded_so_far(payment):
    refund_create(serial_no=payment.serial_no, request_no="r1", amount="30.00", requested_by="trade")
    page = client_of("Auditor").get(reverse("postings:posting", args=[payment.serial_no])).content.decode()
    refunded = re.findall(r'class="num refunded"><span class="amt">([0-9.,]+)</span>', page)
    assert refunded == ["30.00", "29.10", "0.60", "0.30"]  # payer, shop, fee, partner
    assert re.search(r'id="left"><span class="amt">70.00</span>', page)
    assert 'id="refund-form"' not in page  # the auditor reads, never refunds


@pytest.mark.parametrize("role", ROLES)
def test_approvals_by_role_and_never_by_the_proposer(role, payment, ledger):
    RefundPolicy.objects.create(business_type="transfer", approval_above=Decimal("20.00"))
    maker = staff_user("maker", "Finance staff")
    pending = refund_create(
        serial_no=payment.serial_no, request_no="big", amount="50.00", requested_by="maker", acting_user=maker
    )
    own = Client()
    own.force_login(maker)
    own.post(reverse("postings:refund_approve", args=[pending.pk]))
    assert Refund.objects.get(pk=pending.pk).status == RefundStatus.PENDING

    r = client_of(role).post(reverse("postings:refund_approve", args=[pending.pk]), {"note": "ok"})
    pending.refresh_from_db()
    if role == "Finance staff":
        assert r.status_code == 302
        assert pending.status == RefundStatus.POSTED and pending.decided_by.username != "maker"
        assert ledger.balance(payment.accounts["alice"]) == Decimal("450.00")
    else:
        assert r.status_code == 403
        assert pending.status == RefundStatus.PENDING
        assert ledger.balance(payment.accounts["alice"]) == Decimal("400.00")


def test_the_queue_lists_what_waits_and_a_rejection_needs_a_note(payment):
    RefundPolicy.objects.create(business_type="transfer", approval_above=Decimal("20.00"))
    big = refund_create(serial_no=payment.serial_no, request_no="big", amount="25.00", requested_by="trade")
    refund_create(serial_no=payment.serial_no, request_no="small", amount="5.00", requested_by="trade")
    checker = client_of("Finance staff", "checker")
    queue = checker.get(reverse("postings:refund_approvals")).content.decode()
    assert f'id="r-{big.pk}"' in queue and queue.count('<tr id="r-') == 1
    checker.post(reverse("postings:refund_reject", args=[big.pk]), {"note": ""})
    assert Refund.objects.get(pk=big.pk).status == RefundStatus.PENDING
    checker.post(reverse("postings:refund_reject", args=[big.pk]), {"note": "duplicate"})
    assert Refund.objects.get(pk=big.pk).status == RefundStatus.REJECTED
    listed = checker.get(reverse("postings:refunds"), {"status": "rejected"}).content.decode()
    assert listed.count('<tr id="r-') == 1


def test_a_late_payment_refunded_by_staff_without_a_reason_is_refused_with_a_message(payment):
    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now() + timezone.timedelta(days=400), tick=True):
        client = client_of("Finance staff")  # logged in then: a session does not last 400 days
        r = client.post(
            reverse("postings:refund_create", args=[payment.serial_no]),
            {"request_no": "late-1", "amount": "10.00", "reason": ""},
            follow=True,
        )
    assert "needs a reason" in r.content.decode()
    assert not Refund.objects.exists()
