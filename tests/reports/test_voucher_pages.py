"""The voucher pages' actions, role by role (roles: tests/reports/test_pages.py):
exporting and recording the GL's numbers are finance staff's; every reader
sees vouchers, lines, exports and downloads the files exported."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reports.staging.models import StagedUpload
from reports.vouchers.models import Voucher, VoucherExport
from reports.vouchers.services import vouchers_export

from .reporting import ALL_ROLES, as_role, books, expect, staff_user  # noqa: F401

pytestmark = pytest.mark.django_db

READERS = {"Finance staff", "Auditor", "Ledger admin"}


@pytest.fixture
def drafts(books):  # noqa: F811
    books.vouchers_from_entries()
    return books


def export_form(b, fmt="csv") -> dict:
    day = b.day.isoformat()
    return {"entity": b.ledger.entity.pk, "date_from": day, "date_to": day, "format": fmt}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_export_by_role(drafts, as_role, role):
    response = as_role(role).post(reverse("reports:voucher_export"), export_form(drafts))
    expect(response, role, {"Finance staff"}, ok=302)
    exported = VoucherExport.objects.first()
    if role == "Finance staff":
        assert response["Location"] == reverse("reports:voucher_export_detail", args=[exported.pk])
        assert set(Voucher.objects.values_list("status", flat=True)) == {"exported"}
    else:
        assert exported is None and set(Voucher.objects.values_list("status", flat=True)) == {"draft"}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_export_pages_and_download_by_role(drafts, as_role, role):
    finance = staff_user("exporter", "Finance staff")
    x = vouchers_export(
        entity=drafts.ledger.entity, date_from=drafts.day, date_to=drafts.day, format="kingdee", user=finance
    )
    client = as_role(role)
    for url in (
        reverse("reports:voucher_exports"),
        reverse("reports:voucher_export_detail", args=[x.pk]),
        reverse("reports:voucher_export_download", args=[x.pk]),
    ):
        response = client.get(url)
        expect(response, role, READERS)
        if role in READERS and url.endswith("/file/"):
            assert response.content == bytes(x.content) and response["X-Checksum-SHA256"] == x.file_sha256


@pytest.mark.parametrize("role", ALL_ROLES)
def test_acknowledge_by_role(drafts, as_role, role):
    finance = staff_user("exporter", "Finance staff")
    vouchers_export(entity=drafts.ledger.entity, date_from=drafts.day, date_to=drafts.day, format="csv", user=finance)
    voucher = Voucher.objects.order_by("number").first()
    response = as_role(role).post(reverse("reports:voucher_ack", args=[voucher.pk]), {"gl_voucher_no": "记-9"})
    expect(response, role, {"Finance staff"}, ok=302)
    voucher.refresh_from_db()
    assert voucher.gl_voucher_no == ("记-9" if role == "Finance staff" else "")


@pytest.mark.parametrize("role", ALL_ROLES)
def test_answer_upload_and_confirm_by_role(drafts, as_role, role):
    finance = staff_user("exporter", "Finance staff")
    vouchers_export(entity=drafts.ledger.entity, date_from=drafts.day, date_to=drafts.day, format="csv", user=finance)
    numbers = [v.voucher_no for v in Voucher.objects.order_by("number")]
    content = ("voucher_no,gl_voucher_no\n" + "".join(f"{n},G{i}\n" for i, n in enumerate(numbers))).encode()
    client = as_role(role)
    response = client.post(
        reverse("reports:voucher_ack_upload"), {"file": SimpleUploadedFile("answer.csv", content, "text/csv")}
    )
    expect(response, role, {"Finance staff"}, ok=302)
    if role != "Finance staff":
        assert not StagedUpload.objects.exists()
        return
    staged = StagedUpload.objects.get()
    assert Voucher.objects.filter(status="acknowledged").count() == 0  # previewed, not recorded
    assert client.post(reverse("reports:voucher_ack_preview", args=[staged.pk])).status_code == 302
    assert client.post(reverse("reports:voucher_ack_preview", args=[staged.pk])).status_code == 302  # twice: once
    assert sorted(Voucher.objects.values_list("gl_voucher_no", flat=True)) == ["G0", "G1"]
    # Another finance clerk cannot confirm someone else's upload.
    other = staff_user("finance2", "Finance staff")
    client.force_login(other)
    assert client.get(reverse("reports:voucher_ack_preview", args=[staged.pk])).status_code == 404


def test_a_bad_answer_file_is_shown_with_its_problems(drafts, as_role):
    response = as_role("Finance staff").post(
        reverse("reports:voucher_ack_upload"),
        {"file": SimpleUploadedFile("a.csv", b"voucher_no,gl_voucher_no\nMAIN-202612-X-0001,1\n", "text/csv")},
    )
    assert response.status_code == 400
    assert "no voucher MAIN-202612-X-0001" in response.content.decode()
    assert not StagedUpload.objects.exists()
