"""The GL reconciliation per period: the GL's trial balance of November
(科目余额表, balances on each subject's normal side, as for a day) against the
ledger's November (tests/reports/test_period_close.py's worked month)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reports.gl_recon.models import GlImport
from reports.gl_recon.selectors import gl_differences
from reports.gl_recon.services import gl_import
from reports.periods.models import PeriodKind
from reports.vouchers.services import vouchers_export

from .test_period_close import NOV30, clerks, close, november  # noqa: F401

pytestmark = pytest.mark.django_db

HEADER = "subject_code,currency,opening,debit,credit,closing\n"
# November as the GL books it after its own carry-forward: income and expense at zero.
AGREES = HEADER + (
    "1002,CNY,0,500.00,0,-500.00\n"
    "2241,CNY,0,2.00,510.00,508.00\n"
    "4103,CNY,0,8.00,0,-8.00\n"
    "6051,CNY,0,2.00,2.00,0\n"
    "6601,CNY,0,10.00,10.00,0\n"
)
# The GL never got the carry-forward voucher.
NO_CARRY = HEADER + (
    "1002,CNY,0,500.00,0,-500.00\n2241,CNY,0,2.00,510.00,508.00\n6051,CNY,0,0,2.00,2.00\n6601,CNY,0,10.00,0,-10.00\n"
)


def test_a_months_gl_trial_balance_is_compared_with_the_ledgers_month(ledger, november, clerks):  # noqa: F811
    # The day's vouchers went to the GL before the close.
    vouchers_export(entity=ledger.entity, date_from=NOV30, date_to=NOV30, format="csv", user=clerks[0])
    close(ledger.entity, PeriodKind.MONTH, NOV30, clerks)
    common = dict(entity=ledger.entity, accounting_date=NOV30, user=clerks[0], period_start=date(2026, 11, 1))
    agrees = gl_import(file_name="tb-202611.csv", content=AGREES.encode(), **common)
    assert gl_differences(agrees) == []

    missing = gl_import(file_name="tb-202611-b.csv", content=NO_CARRY.encode(), **common)
    diffs = {d.subject_code: d for d in gl_differences(missing)}
    assert {k: d.differing for k, d in diffs.items()} == {
        "4103": ("debit", "closing"),
        "6051": ("debit", "closing"),
        "6601": ("credit", "closing"),
    }
    # The carry-forward voucher, a draft, is what the GL lacks.
    assert diffs["6051"].voucher_finding == "not_exported"
    # Compared with one day instead (Nov 30's balance sheet, never built here), it is not the month.
    day = GlImport.objects.create(
        entity=ledger.entity,
        accounting_date=NOV30,
        file_name="x",
        file_sha256="0" * 64,
        row_count=0,
        uploaded_by=clerks[0],
    )
    assert gl_differences(day) == []


def test_a_months_trial_balance_uploaded_on_the_page(ledger, november, clerks, client):  # noqa: F811
    close(ledger.entity, PeriodKind.MONTH, NOV30, clerks)
    client.force_login(clerks[0])
    upload = SimpleUploadedFile("tb-202611.csv", AGREES.encode(), content_type="text/csv")
    response = client.post(
        reverse("reports:gl_upload"),
        {"entity": ledger.entity.pk, "accounting_date": "2026-11-15", "period": "month", "file": upload},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    preview = client.get(response["Location"])
    assert "2026-11-01 – 2026-11-30" in preview.content.decode()
    result = client.post(response["Location"], follow=True)
    gl = GlImport.objects.get()
    assert (gl.period_start, gl.accounting_date) == (date(2026, 11, 1), NOV30)
    assert result.status_code == 200 and gl_differences(gl) == []
    assert "2026-11-01 – 2026-11-30" in result.content.decode()
