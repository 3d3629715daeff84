"""The opening-balance pages (期初建账) per role: only finance staff upload,
preview, confirm and see the result; a bad file is shown with its problems
and writes nothing; the preview and confirmation belong to the uploader."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from reports.opening.models import OpeningImport, OpeningPosting
from reports.staging.models import StagedUpload

from .reporting import ALL_ROLES, as_role, expect, staff_user  # noqa: F401
from .test_opening import D, account, books, csv_bytes, gl, good_rows, ledger_state  # noqa: F401

pytestmark = pytest.mark.django_db

FINANCE = {"Finance staff"}


def upload(client, content: bytes):
    return client.post(
        reverse("reports:opening_upload"),
        {"accounting_date": D.isoformat(), "file": SimpleUploadedFile("opening.csv", content, content_type="text/csv")},
    )


@pytest.mark.parametrize("role", ALL_ROLES)
def test_opening_pages_by_role(books, as_role, role):
    client = as_role(role)
    expect(client.get(reverse("reports:opening_upload")), role, FINANCE)
    before = ledger_state()
    response = upload(client, csv_bytes(good_rows()))
    expect(response, role, FINANCE, ok=302)
    if role not in FINANCE:
        assert StagedUpload.objects.count() == 0 and ledger_state() == before
        return
    preview = client.get(response["Location"])
    assert preview.status_code == 200
    html = preview.content.decode()
    assert '<td id="preview-accounts">7</td>' in html and '<td id="preview-holds">2</td>' in html
    assert ledger_state() == before  # the preview writes nothing
    done = client.post(response["Location"])
    assert done.status_code == 302
    record = OpeningImport.objects.get()
    assert done["Location"] == reverse("reports:opening_import", args=[record.pk])
    assert client.get(done["Location"]).status_code == 200
    # A second confirmation (a double click, a resent form) imports once.
    assert client.post(response["Location"])["Location"] == done["Location"]
    assert OpeningPosting.objects.count() == 2


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_result_page_is_finances(books, as_role, role):
    finance = as_role("Finance staff")
    staged = upload(finance, csv_bytes(good_rows()))["Location"]
    finance.post(staged)
    record = OpeningImport.objects.get()
    expect(as_role(role).get(reverse("reports:opening_import", args=[record.pk])), role, FINANCE)


def test_a_bad_file_is_shown_with_its_problems_and_writes_nothing(books, as_role):
    rows = good_rows()
    rows[1] = account("A-002", "USER_CASH", ["M-2", "Acme", "company", "Acme Ltd", "91310000MA1K000001"], "3OO")
    before = ledger_state()
    response = upload(as_role("Finance staff"), csv_bytes(rows))
    assert response.status_code == 400
    assert "row 3, column balance: &#x27;3OO&#x27; is not a decimal amount" in response.content.decode()
    assert ledger_state() == before and StagedUpload.objects.count() == 0


def test_someone_elses_preview_is_not_found(books, as_role):
    staged = upload(as_role("Finance staff"), csv_bytes(good_rows()))["Location"]
    other = as_role("Finance staff")  # the uploader again
    colleague = Client()
    colleague.force_login(staff_user("colleague", "Finance staff"))
    assert colleague.get(staged).status_code == 404
    assert colleague.post(staged).status_code == 404
    assert OpeningImport.objects.count() == 0
    assert other.get(staged).status_code == 200


def test_the_same_file_staged_again_is_refused_on_upload(books, as_role):
    client = as_role("Finance staff")
    client.post(upload(client, csv_bytes(good_rows()))["Location"])
    response = upload(client, csv_bytes(good_rows()))
    assert response.status_code == 400
    assert "This file was already imported as opening import #" in response.content.decode()
