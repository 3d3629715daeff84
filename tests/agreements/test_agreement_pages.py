"""The agreement staff pages, per role: Finance staff, Auditor and Ledger
admin read the list and an agreement's page (history, scheduled debits,
attempts); only Finance staff suspend, resume and revoke, a suspension and a
revocation with a reason; Cashier, Reviewer and people without a role see
nothing (403). Every page and action is tried by every role."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from postings.agreements.models import Agreement, AgreementEvent
from postings.agreements.services import agreement_revoke
from tests.postings.refund_books import ROLES
from tests.reports.reporting import staff_user

from .books import ensure_agreement_roles, sign

pytestmark = pytest.mark.django_db

READERS = {"Finance staff", "Auditor", "Ledger admin"}


@pytest.fixture
def mandates(ledger):
    ensure_agreement_roles()
    active = sign(ledger, agreement_no="AG-ACTIVE")
    active.debit("100.00", "d-1")
    gone = sign(ledger, agreement_no="AG-GONE", frequency="monthly", schedule_day=3, scheduled_amount="50.00")
    agreement_revoke(agreement_id=gone.agreement.pk, reason="loan closed", request_no="v", actor="lender")
    return {"active": active, "gone": gone}


def client_of(role: str | None) -> Client:
    client = Client()
    client.force_login(staff_user(f"u-{(role or 'none').replace(' ', '-').lower()}", role))
    return client


@pytest.mark.parametrize("role", [*ROLES, None])
def test_who_reads_the_agreement_pages(role, mandates):
    client = client_of(role)
    expected = 200 if role in READERS else 403
    assert client.get(reverse("agreements:agreements")).status_code == expected
    page = client.get(reverse("agreements:agreement", args=[mandates["active"].agreement.pk]))
    assert page.status_code == expected
    if expected == 200:
        html = page.content.decode()
        assert "d-1" in html and "100.00" in html  # the attempt
        assert ('id="form-suspend"' in html) == (role == "Finance staff")


@pytest.mark.parametrize("role", [*ROLES, None])
def test_only_finance_staff_suspend_and_revoke_with_a_reason(role, mandates):
    client = client_of(role)
    pk = mandates["active"].agreement.pk
    url = reverse("agreements:agreement_act", args=[pk, "suspend"])
    r = client.post(url, {"request_no": "staff-1", "action": "suspend", "reason": "member called the hotline"})
    if role != "Finance staff":
        assert r.status_code == 403
        assert Agreement.objects.get(pk=pk).status == "active"
        return
    assert r.status_code == 302
    event = AgreementEvent.objects.get(agreement_id=pk, kind="suspend")
    assert (event.reason, event.acting_user.username, event.actor) == (
        "member called the hotline",
        "u-finance-staff",
        "u-finance-staff",
    )
    # Without a reason a revocation is refused and said so; with one it is done.
    revoke = reverse("agreements:agreement_act", args=[pk, "revoke"])
    r = client.post(revoke, {"request_no": "staff-2", "action": "revoke", "reason": ""}, follow=True)
    assert "needs a reason" in r.content.decode()
    assert Agreement.objects.get(pk=pk).status == "suspended"
    client.post(revoke, {"request_no": "staff-3", "action": "revoke", "reason": "fraud suspected"})
    assert Agreement.objects.get(pk=pk).status == "revoked"


def listed(client, **params) -> set[str]:
    page = client.get(reverse("agreements:agreements"), params).content.decode()
    return {a.agreement_no for a in Agreement.objects.all() if f'<tr id="a-{a.pk}"' in page}


def test_the_list_filters(mandates):
    auditor = client_of("Auditor")
    assert listed(auditor) == {"AG-ACTIVE", "AG-GONE"}
    assert listed(auditor, status="active") == {"AG-ACTIVE"}
    assert listed(auditor, status="revoked") == {"AG-GONE"}
    assert listed(auditor, frequency="monthly") == {"AG-GONE"}
    assert listed(auditor, account=mandates["active"].payer.account_no) == {"AG-ACTIVE"}
    assert listed(auditor, agreement_no="AG-GONE") == {"AG-GONE"}
