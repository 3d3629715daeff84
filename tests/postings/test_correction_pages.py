"""The red-ink correction staff pages, per role: who sees the posting's
correction action, the queue and a correction's page; who may propose, who
may approve (never the proposer) and reject. Every page and action is tried
by every role."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from postings.models import Correction, CorrectionStatus, Posting
from postings.services import correction_propose
from tests.reports.reporting import staff_user

from .refund_books import ROLES
from .test_corrections import ensure_correction_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(ledger):
    ensure_correction_roles()
    alice, bob = ledger.cash(ledger.member("Alice")), ledger.cash(ledger.member("Bob"))
    wrong = ledger.recharge(alice, "100.00", request_no="slip-1")
    return {"alice": alice, "bob": bob, "channel": ledger.channel(), "wrong": wrong}


def client_of(role: str | None, name: str | None = None) -> Client:
    client = Client()
    client.force_login(staff_user(name or f"u-{(role or 'none').replace(' ', '-').lower()}", role))
    return client


def legs_text(b) -> str:
    return f"{b['channel'].account_no} D 10.00\n{b['bob'].account_no} C 10.00"


def proposal(b, user=None):
    return correction_propose(
        serial_no=b["wrong"].serial_no,
        legs=[(b["channel"].account_no, "D", "10.00"), (b["bob"].account_no, "C", "10.00")],
        reason="slip",
        request_no="c-1",
        acting_user=user or staff_user("maker", "Finance staff"),
    )


READS = {"Finance staff": 200, "Auditor": 200, "Ledger admin": 200, "Reviewer": 403, "Cashier": 403, None: 403}


@pytest.mark.parametrize("role", list(READS))
def test_who_reads_the_correction_pages(role, books):
    c = proposal(books)
    client = client_of(role)
    for url in (reverse("postings:corrections"), reverse("postings:correction", args=[c.pk])):
        assert client.get(url).status_code == READS[role], url


@pytest.mark.parametrize("role", ROLES)
def test_only_finance_staff_propose_from_the_posting_page(role, books, ledger):
    client = client_of(role)
    page = client.get(reverse("postings:posting", args=[books["wrong"].serial_no]))
    if page.status_code == 200:
        assert (b'id="correction-form"' in page.content) == (role == "Finance staff")
    r = client.post(
        reverse("postings:correction_create", args=[books["wrong"].serial_no]),
        {"request_no": f"staff-{role}", "legs": legs_text(books), "reason": "slip says 10"},
    )
    if role == "Finance staff":
        c = Correction.objects.get()
        assert r.status_code == 302 and r["Location"] == reverse("postings:correction", args=[c.pk])
        assert c.status == CorrectionStatus.PROPOSED and c.legs == [
            [books["channel"].account_no, "D", "10"],
            [books["bob"].account_no, "C", "10"],
        ]
    else:
        assert r.status_code == 403 and not Correction.objects.exists()
    assert ledger.balance(books["alice"]) == 100


def test_a_double_submit_of_the_form_proposes_once(books):
    client = client_of("Finance staff")
    data = {"request_no": "staff-once", "legs": legs_text(books), "reason": "slip says 10"}
    url = reverse("postings:correction_create", args=[books["wrong"].serial_no])
    client.post(url, data)
    client.post(url, data)
    assert Correction.objects.count() == 1


def test_bad_legs_are_told_and_nothing_is_proposed(books):
    client = client_of("Finance staff")
    r = client.post(
        reverse("postings:correction_create", args=[books["wrong"].serial_no]),
        {"request_no": "staff-bad", "legs": f"{books['channel'].account_no} D 10.00\nnonsense", "reason": "x"},
        follow=True,
    )
    assert "Not proposed: Line 2" in r.content.decode()
    r = client.post(
        reverse("postings:correction_create", args=[books["wrong"].serial_no]),
        {
            "request_no": "staff-bad2",
            "legs": f"{books['channel'].account_no} D 10.00\n{books['bob'].account_no} C 9",
            "reason": "x",
        },
        follow=True,
    )
    assert "do not balance" in r.content.decode()
    assert not Correction.objects.exists()


APPROVE = {"Finance staff": 302, "Auditor": 403, "Ledger admin": 403, "Reviewer": 403, "Cashier": 403}


@pytest.mark.parametrize("role", list(APPROVE))
def test_who_approves_and_rejects(role, books):
    c = proposal(books)
    client = client_of(role)
    r = client.post(reverse("postings:correction_approve", args=[c.pk]), {"note": "ok"})
    assert r.status_code == APPROVE[role]
    c.refresh_from_db()
    if role == "Finance staff":
        assert c.status == CorrectionStatus.BOOKED
        assert Posting.objects.filter(reverses=books["wrong"]).exists()
    else:
        assert c.status == CorrectionStatus.PROPOSED
        assert client.post(reverse("postings:correction_reject", args=[c.pk]), {"note": "no"}).status_code == 403


def test_the_proposer_sees_no_approve_button_and_cannot_approve(books):
    maker = staff_user("maker", "Finance staff")
    c = proposal(books, user=maker)
    client = Client()
    client.force_login(maker)
    page = client.get(reverse("postings:correction", args=[c.pk])).content.decode()
    assert "Approve and book" not in page and "Reject" in page
    r = client.post(reverse("postings:correction_approve", args=[c.pk]), {"note": ""}, follow=True)
    assert "another person must approve it" in r.content.decode()
    c.refresh_from_db()
    assert c.status == CorrectionStatus.PROPOSED


def test_the_queue_lists_proposed_corrections_by_default(books):
    c = proposal(books)
    client = client_of("Auditor")
    page = client.get(reverse("postings:corrections")).content.decode()
    assert f'id="c-{c.pk}"' in page
    client_of("Finance staff", "checker").post(reverse("postings:correction_reject", args=[c.pk]), {"note": "no"})
    assert f'id="c-{c.pk}"' not in client.get(reverse("postings:corrections")).content.decode()
    assert f'id="c-{c.pk}"' in client.get(reverse("postings:corrections") + "?status=rejected").content.decode()
