"""How vouchers are grouped and which auxiliary dimensions a subject keeps
are control settings: a ledger admin proposes, a second approves, and only
then does the next build follow them. The admin's save is a proposal."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.kernel.errors import NotAllowed
from accounts.kernel.governance import setting_change_approve, setting_change_propose
from accounts.kernel.models import SettingChange
from reports.vouchers.models import SubjectDimensions, Voucher, VoucherGrouping
from tests.reports.reporting import ensure_report_roles
from tests.reports.test_vouchers import DEC2, closed, day  # noqa: F401 (day: a fixture)

pytestmark = pytest.mark.django_db


def test_a_grouping_takes_effect_only_when_a_second_ledger_admin_approves_it(people, day, ledger):  # noqa: F811
    ensure_report_roles()
    values = {"business_type": "recharge", "group_by": "posting", "voucher_word": "收"}
    with pytest.raises(NotAllowed):
        setting_change_propose(acting_user=people["Finance staff"], model=VoucherGrouping, values=values)
    change = setting_change_propose(acting_user=people["maker"], model=VoucherGrouping, values=values)
    with pytest.raises(NotAllowed):
        setting_change_approve(acting_user=people["maker"], change_id=change.pk)
    assert not VoucherGrouping.objects.exists()  # proposed, not in force
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    closed(ledger)
    recharges = Voucher.objects.filter(accounting_date=DEC2, lines__subject_code="1002").distinct()
    assert sorted(v.word for v in recharges) == ["收", "收"]  # one voucher per recharge posting
    assert SettingChange.objects.get(pk=change.pk).decided_by == people["checker"]


def test_subject_dimensions_are_proposed_and_approved_too(people, ledger):
    ensure_report_roles()
    change = setting_change_propose(
        acting_user=people["maker"],
        model=SubjectDimensions,
        values={"subject_code": "2241", "member": True, "department": "FIN01"},
    )
    assert not SubjectDimensions.objects.exists()
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    row = SubjectDimensions.objects.get()
    assert (row.subject_code, row.member, row.channel, row.department) == ("2241", True, False, "FIN01")


def test_the_admins_save_is_a_proposal(people):
    ensure_report_roles()
    client = Client()
    client.force_login(people["maker"])
    response = client.post(
        "/admin/reports/vouchergrouping/add/",
        {"business_type": "fee", "group_by": "merged", "voucher_word": "转"},
        follow=True,
    )
    assert response.status_code == 200
    assert not VoucherGrouping.objects.exists()
    assert SettingChange.objects.filter(model="reports.vouchergrouping", status="proposed").count() == 1
