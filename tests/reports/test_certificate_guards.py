"""What the database refuses on close certificates, whoever writes: the
runtime role (a compromised web process, an operator with the
application's credentials) may not alter a signed certificate, co-sign its
own signature, write one already signed, or delete one
(reports/sql/certificates.sql, CHECK certificate_signed_by_two_people).
And the drafting task on a real Celery worker."""

from __future__ import annotations

import psycopg
import pytest

from reports.certificates.models import CertificateStatus, CloseCertificate
from reports.certificates.services import certificate_cosign, certificate_sign

from .reporting import ensure_report_roles, staff_user
from .test_certificates import NOV2, NOV3, books  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def signed(books):  # noqa: F811
    ensure_report_roles()
    maker, checker = staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff")
    entity = books[0]
    nov2 = CloseCertificate.objects.get(entity=entity, accounting_date=NOV2)
    certificate_sign(acting_user=maker, certificate_id=nov2.pk, seen_hash=nov2.certificate_hash)
    return entity, CloseCertificate.objects.get(pk=nov2.pk), maker, checker


def test_a_signed_certificate_changes_only_by_its_cosignature(runtime_sql, signed):
    entity, nov2, maker, checker = signed
    for forgery in (
        "UPDATE reports_closecertificate SET entries_root = repeat('0', 64) WHERE id = %s",
        "UPDATE reports_closecertificate SET status = 'draft', signed_by_id = NULL, signed_at = NULL WHERE id = %s",
        "UPDATE reports_closecertificate SET status = 'cosigned', cosigned_by_id = signed_by_id + 0,"
        " cosigned_at = now(), sheet_hash = repeat('0', 64) WHERE id = %s",
    ):
        with pytest.raises(psycopg.errors.RestrictViolation, match="changes only by its co-signature"):
            runtime_sql(forgery, [nov2.pk])
    with pytest.raises(psycopg.errors.CheckViolation, match="certificate_signed_by_two_people"):
        runtime_sql(
            "UPDATE reports_closecertificate SET status = 'cosigned', cosigned_by_id = signed_by_id, cosigned_at = now()"
            " WHERE id = %s",
            [nov2.pk],
        )
    with pytest.raises(psycopg.errors.RestrictViolation, match="never deleted"):
        runtime_sql("DELETE FROM reports_closecertificate WHERE id = %s", [nov2.pk])
    assert CloseCertificate.objects.get(pk=nov2.pk).certificate_hash == nov2.certificate_hash

    done = certificate_cosign(acting_user=checker, certificate_id=nov2.pk)
    assert done.status == CertificateStatus.COSIGNED
    with pytest.raises(psycopg.errors.RestrictViolation, match="is cosigned"):
        runtime_sql("UPDATE reports_closecertificate SET drafted_by = 'me' WHERE id = %s", [nov2.pk])


def test_a_certificate_is_written_as_a_draft(runtime_sql, signed):
    entity, nov2, maker, checker = signed
    with pytest.raises(psycopg.errors.RestrictViolation, match="written as a draft"):
        runtime_sql(
            """INSERT INTO reports_closecertificate (entity_id, accounting_date, status, entries_count, entries_root,
                   sheet_rows, sheet_hash, checks, vouchers, exports, reconciliation, previous_hash, certificate_hash,
                   drafted_at, drafted_by, signed_by_id, signed_at, cosigned_by_id, cosigned_at)
               VALUES (%s, '2026-11-05', 'cosigned', 0, '', 0, '', '[]', '[]', '[]', '{}', '', '', now(), 'x',
                       %s, now(), %s, now())""",
            [entity.pk, maker.pk, checker.pk],
        )
    draft = CloseCertificate.objects.get(entity=entity, accounting_date=NOV3)
    with pytest.raises(psycopg.errors.RestrictViolation, match="changes only by its co-signature"):
        runtime_sql(  # a draft is signed first, co-signed after
            "UPDATE reports_closecertificate SET status = 'cosigned', signed_by_id = %s, signed_at = now(),"
            " cosigned_by_id = %s, cosigned_at = now() WHERE id = %s",
            [maker.pk, checker.pk, draft.pk],
        )


@pytest.mark.celery_worker
def test_the_redraft_runs_on_a_real_worker(books, celery_worker_on_redis):  # noqa: F811
    entity = books[0]
    nov3 = CloseCertificate.objects.get(entity=entity, accounting_date=NOV3)
    CloseCertificate.objects.filter(pk=nov3.pk).update(drafted_by="someone else")
    result = celery_worker_on_redis("reports.tasks.certificate_draft", entity.code, NOV3.isoformat(), actor="maker")
    assert result == {"status": "draft", "certificate_hash": nov3.certificate_hash}
    assert CloseCertificate.objects.get(pk=nov3.pk).drafted_by == "maker"
