"""Writes of close certificates (日结单): draft (by the end of day, or
again by finance before signing), sign, co-sign. One transaction each.

Drafting reads the closed day (``selectors``), links the certificate to the
entity's previous one and seals the lot with its hash. The end of day asks
for it when it has closed a day (a task, after its commit); every closed day
gets one, an empty day closed by the calendar too. A draft is redrafted in
place (finance's Redraft button), so that what the day's exports and
reconciliations added since the end of day is in it when it is signed.

Signing is maker-checker, in day order:

- the first signature (``reports.sign_certificate``) names the hash the
  signer was shown; if the draft changed since, the signature is refused
  (``CertificateChanged``), so nobody signs what they did not read. The
  previous day's certificate must be co-signed, and this draft chained to it
  as it now stands (else redraft), so a signed certificate never hangs from
  one that may still change;
- the co-signature comes from another person with the same permission
  (``CertificateSelfCosign``, a ``SegregationOfDuties`` refusal).

Signing or co-signing again by the same person changes nothing (a retried
click). The database keeps the rest: a signed certificate changes only by
its co-signature, a co-signed one never, none is deleted
(reports/sql/certificates.sql).
"""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from accounts.kernel.permissions import require_permission
from accounts.models import Entity
from postings.models import AccountingDay, DayStatus

from . import selectors
from .exceptions import (
    CertificateChanged,
    CertificateNotReady,
    CertificateNotSignable,
    CertificateOutOfOrder,
    CertificateSelfCosign,
)
from .models import CertificateStatus, CloseCertificate

SIGN = "reports.sign_certificate"


def certificate_contents(*, entity: Entity, day: date, previous: CloseCertificate | None) -> dict:
    """Everything a certificate of ``entity``'s ``day`` seals, from the books as they are now."""
    entries_count, entries_root = selectors.entries_root(entity=entity, day=day)
    sheet_rows, sheet_hash = selectors.sheet_hash(entity=entity, day=day)
    return {
        "entries_count": entries_count,
        "entries_root": entries_root,
        "sheet_rows": sheet_rows,
        "sheet_hash": sheet_hash,
        "checks": selectors.checks_of_day(entity=entity, day=day),
        "vouchers": selectors.vouchers_of_day(entity=entity, day=day),
        "exports": selectors.exports_of_day(entity=entity, day=day),
        "reconciliation": selectors.reconciliation_of_day(entity=entity, day=day),
        "previous_hash": previous.certificate_hash if previous is not None else selectors.GENESIS_HEX,
    }


def certificate_draft(*, entity: Entity, day: date, actor: str) -> CloseCertificate:
    """Draft (or redraft) the certificate of a closed day, and keep the
    entity's chain whole around it: closed days between the last
    certificate and this day that have none are drafted first, in order
    (the end of day's drafting tasks may arrive out of order, and an empty
    day closed by the calendar has no run of its own), and when this
    draft's hash changed, the drafts after it are redrafted to chain to it.
    A signed certificate is returned as it is: its day is sealed."""
    if not AccountingDay.objects.filter(entity=entity, date=day, status=DayStatus.CLOSED).exists():
        raise CertificateNotReady(f"{entity.code} {day} is not closed by its end of day.", day=str(day))
    latest = selectors.previous_certificate(entity=entity, day=day)
    if latest is not None:
        gaps = AccountingDay.objects.filter(
            entity=entity, status=DayStatus.CLOSED, date__gt=latest.accounting_date, date__lt=day
        ).order_by("date")
        for gap in gaps.values_list("date", flat=True):
            _draft_one(entity=entity, day=gap, actor=actor)
    certificate, changed = _draft_one(entity=entity, day=day, actor=actor)
    later = CloseCertificate.objects.filter(entity=entity, accounting_date__gt=day, status=CertificateStatus.DRAFT)
    for next_day in later.order_by("accounting_date").values_list("accounting_date", flat=True):
        if not changed:
            break
        _, changed = _draft_one(entity=entity, day=next_day, actor=actor)
    return certificate


_LOCK_NAMESPACE = 0x434552  # "CER": one drafting of an entity's certificates at a time


def _draft_one(*, entity: Entity, day: date, actor: str) -> tuple[CloseCertificate, bool]:
    """Draft one day's certificate; (it, whether its hash is new)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, entity.pk])
        certificate = CloseCertificate.objects.filter(entity=entity, accounting_date=day).first()
        if certificate is not None and certificate.status != CertificateStatus.DRAFT:
            return certificate, False
        previous = selectors.previous_certificate(entity=entity, day=day)
        contents = certificate_contents(entity=entity, day=day, previous=previous)
        digest = selectors.certificate_digest(entity_code=entity.code, day=day, contents=contents)
        fields = {
            **contents,
            "previous": previous,
            "certificate_hash": digest,
            "drafted_at": timezone.now(),
            "drafted_by": actor,
        }
        if certificate is None:
            return CloseCertificate.objects.create(entity=entity, accounting_date=day, **fields), True
        changed = certificate.certificate_hash != digest
        for name, value in fields.items():
            setattr(certificate, name, value)
        certificate.save(update_fields=list(fields))
        return certificate, changed


def _locked(certificate_id: int) -> CloseCertificate:
    return CloseCertificate.objects.select_for_update(no_key=True).select_related("entity").get(pk=certificate_id)


def certificate_sign(*, acting_user, certificate_id: int, seen_hash: str) -> CloseCertificate:
    """The first signature, of the certificate whose hash the signer saw."""
    require_permission(acting_user, SIGN, doing="sign a close certificate")
    with transaction.atomic():
        certificate = _locked(certificate_id)
        if certificate.status != CertificateStatus.DRAFT:
            if certificate.signed_by_id == acting_user.pk:
                return certificate
            raise CertificateNotSignable(
                f"The certificate of {certificate.accounting_date} is {certificate.get_status_display()}.",
                status=certificate.status,
            )
        if certificate.certificate_hash != seen_hash:
            raise CertificateChanged(
                f"The certificate of {certificate.accounting_date} was redrafted since it was shown.",
                certificate_hash=certificate.certificate_hash,
            )
        previous = selectors.previous_certificate(entity=certificate.entity, day=certificate.accounting_date)
        if previous is not None and previous.status != CertificateStatus.COSIGNED:
            raise CertificateOutOfOrder(
                f"The certificate of {previous.accounting_date} is co-signed before that of "
                f"{certificate.accounting_date}.",
                previous=str(previous.accounting_date),
            )
        expected = previous.certificate_hash if previous is not None else selectors.GENESIS_HEX
        if certificate.previous_id != (previous.pk if previous else None) or certificate.previous_hash != expected:
            raise CertificateChanged(
                f"The certificate of {certificate.accounting_date} is not chained to the certificate before it "
                "as it stands now: redraft it first.",
                previous=str(previous.accounting_date) if previous else None,
            )
        certificate.status, certificate.signed_by, certificate.signed_at = (
            CertificateStatus.SIGNED,
            acting_user,
            timezone.now(),
        )
        certificate.save(update_fields=["status", "signed_by", "signed_at"])
    return certificate


def certificate_cosign(*, acting_user, certificate_id: int) -> CloseCertificate:
    """The second signature, by someone other than the first signer."""
    require_permission(acting_user, SIGN, doing="co-sign a close certificate")
    with transaction.atomic():
        certificate = _locked(certificate_id)
        if certificate.status == CertificateStatus.COSIGNED and certificate.cosigned_by_id == acting_user.pk:
            return certificate
        if certificate.status != CertificateStatus.SIGNED:
            raise CertificateNotSignable(
                f"The certificate of {certificate.accounting_date} is {certificate.get_status_display()}.",
                status=certificate.status,
            )
        if certificate.signed_by_id == acting_user.pk:
            raise CertificateSelfCosign(
                f"{acting_user.username} signed the certificate of {certificate.accounting_date} "
                "and cannot co-sign it.",
                certificate=certificate.pk,
            )
        certificate.status, certificate.cosigned_by, certificate.cosigned_at = (
            CertificateStatus.COSIGNED,
            acting_user,
            timezone.now(),
        )
        certificate.save(update_fields=["status", "cosigned_by", "cosigned_at"])
    return certificate
