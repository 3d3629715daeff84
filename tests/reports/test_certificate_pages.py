"""The close certificate pages, role by role: finance, the auditor and the
ledger admin read them; finance signs, co-signs and redrafts; the auditor
verifies; nobody else does any of it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reports.certificates.models import CertificateStatus, CloseCertificate
from reports.certificates.services import certificate_sign

from .eod_books import forge
from .reporting import ALL_ROLES, as_role, expect, staff_user  # noqa: F401
from .test_certificates import NOV2, NOV3, books  # noqa: F401

pytestmark = pytest.mark.django_db

READERS = {"Finance staff", "Auditor", "Ledger admin"}
SIGNERS = {"Finance staff"}
VERIFIERS = {"Auditor"}


def nov2(entity) -> CloseCertificate:
    return CloseCertificate.objects.get(entity=entity, accounting_date=NOV2)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_reading_by_role(books, as_role, role):  # noqa: F811
    client = as_role(role)
    response = client.get(reverse("reports:certificates"))
    expect(response, role, READERS)
    if role in READERS:
        html = response.content.decode()
        assert nov2(books[0]).certificate_hash[:16] in html
        assert ('id="verify"' in html) == (role in VERIFIERS)
        assert ("Sign</button>" in html) == (role in SIGNERS)
    response = client.get(reverse("reports:certificate", args=[nov2(books[0]).pk]))
    expect(response, role, READERS)
    if role in READERS:
        assert nov2(books[0]).entries_root in response.content.decode()


@pytest.mark.parametrize("role", ALL_ROLES)
def test_signing_by_role(books, as_role, role):  # noqa: F811
    certificate = nov2(books[0])
    response = as_role(role).post(
        reverse("reports:certificate_sign", args=[certificate.pk]), {"certificate_hash": certificate.certificate_hash}
    )
    expect(response, role, SIGNERS, ok=302)
    assert nov2(books[0]).status == (CertificateStatus.SIGNED if role in SIGNERS else CertificateStatus.DRAFT)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_redraft_by_role(books, as_role, role):  # noqa: F811
    certificate = nov2(books[0])
    CloseCertificate.objects.filter(pk=certificate.pk).update(drafted_by="earlier")
    response = as_role(role).post(reverse("reports:certificate_redraft", args=[certificate.pk]))
    expect(response, role, SIGNERS, ok=302)
    assert (nov2(books[0]).drafted_by == "earlier") == (role not in SIGNERS)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_verifying_by_role(books, as_role, role):  # noqa: F811
    entity = books[0]
    query = {"entity": entity.pk, "date_from": NOV2, "date_to": NOV3}
    response = as_role(role).get(reverse("reports:certificates_verify"), query)
    expect(response, role, VERIFIERS)
    if role in VERIFIERS:
        assert "everything matches" in response.content.decode()


def test_the_auditor_is_shown_the_first_mismatch(books, as_role):  # noqa: F811
    entity, alice, bob, channel, p1, p3, p4 = books
    forge("UPDATE postings_entry SET amount = 21 WHERE posting_id = %s AND account_id = %s", [p4.serial_no, alice.pk])
    response = as_role("Auditor").get(
        reverse("reports:certificates_verify"), {"entity": entity.pk, "date_from": NOV2, "date_to": NOV3}
    )
    html = response.content.decode()
    assert 'id="first-mismatch"' in html and f"(account {alice.account_no}, seq 3, 2026-11-03)" in html


def test_the_signer_is_told_another_person_cosigns(books):  # noqa: F811
    from django.test import Client

    from .reporting import ensure_report_roles

    ensure_report_roles()
    maker = staff_user("maker", "Finance staff")
    certificate = nov2(books[0])
    certificate_sign(acting_user=maker, certificate_id=certificate.pk, seen_hash=certificate.certificate_hash)
    client = Client()
    client.force_login(maker)
    html = client.get(reverse("reports:certificates")).content.decode()
    assert "awaiting another person&#x27;s co-signature" in html or "awaiting another person's co-signature" in html
    response = client.post(reverse("reports:certificate_sign", args=[certificate.pk]), follow=True)
    assert "cannot co-sign it" in response.content.decode()
    assert nov2(books[0]).status == CertificateStatus.SIGNED
