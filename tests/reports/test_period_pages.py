"""The period pages and their actions, role by role: every reader sees the
periods and the trial balance and downloads it; finance staff propose a close
and a second finance clerk approves it; no one else does either."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest
from django.urls import reverse

from reports.periods.models import AccountingPeriod, PeriodStatus
from reports.periods.services import period_close_propose

from .reporting import ALL_ROLES, as_role, body, expect, staff_user  # noqa: F401
from .test_period_close import NOV30, clerks, november  # noqa: F401

pytestmark = pytest.mark.django_db

READERS = {"Finance staff", "Auditor", "Ledger admin"}
DECIDERS = {"Finance staff"}


def trial_query(ledger) -> dict:
    return {"entity": ledger.entity.pk, "kind": "month", "period": "2026-11"}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pages_and_downloads_by_role(ledger, november, as_role, role):  # noqa: F811
    client = as_role(role)
    expect(client.get(reverse("reports:periods")), role, READERS)
    response = client.get(reverse("reports:trial_balance"), trial_query(ledger))
    expect(response, role, READERS)
    if role in READERS:
        assert b'id="subject-1002-CNY"' in response.content
    response = client.get(reverse("reports:trial_balance_csv"), trial_query(ledger))
    expect(response, role, READERS)
    if role in READERS:
        rows = list(csv.DictReader(io.StringIO(body(response).decode("utf-8-sig"))))
        by_subject = {r["subject_code"]: r for r in rows}
        assert (by_subject["2241"]["debit"], by_subject["2241"]["credit"], by_subject["2241"]["closing"]) == (
            "2.00",
            "510.00",
            "-508.00",
        )
    response = client.get(reverse("reports:trial_balance_xlsx"), trial_query(ledger))
    expect(response, role, READERS)
    if role in READERS:
        sheet = openpyxl.load_workbook(io.BytesIO(body(response))).active
        values = [[c.value for c in row] for row in sheet.iter_rows()]
        assert any(r[0] == "1002" for r in values)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_propose_by_role(ledger, november, as_role, role):  # noqa: F811
    form = {"entity": ledger.entity.pk, "kind": "month", "period": "2026-11"}
    response = as_role(role).post(reverse("reports:period_propose"), form)
    expect(response, role, DECIDERS, ok=302)
    proposed = AccountingPeriod.objects.filter(status=PeriodStatus.CLOSING).exists()
    assert proposed == (role in DECIDERS)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_approve_by_role(ledger, november, clerks, as_role, role):  # noqa: F811
    maker, _ = clerks
    period = period_close_propose(acting_user=maker, entity=ledger.entity, kind="month", day=NOV30)
    response = as_role(role).post(reverse("reports:period_decide", args=[period.pk]), {"decision": "approve"})
    expect(response, role, DECIDERS, ok=302)
    period.refresh_from_db()
    assert period.status == (PeriodStatus.CLOSED if role in DECIDERS else PeriodStatus.CLOSING)


def test_the_proposer_is_told_another_person_approves(ledger, november, as_role):  # noqa: F811
    client = as_role("Finance staff")
    client.post(reverse("reports:period_propose"), {"entity": ledger.entity.pk, "kind": "month", "period": "2026-11"})
    period = AccountingPeriod.objects.get(start_date=date(2026, 11, 1), kind="month")
    response = client.post(reverse("reports:period_decide", args=[period.pk]), {"decision": "approve"}, follow=True)
    assert "cannot approve it" in response.content.decode()
    period.refresh_from_db()
    assert period.status == PeriodStatus.CLOSING
