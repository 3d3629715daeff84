"""Refund policies and merchant reserves are control settings: a ledger admin
proposes, another approves, and only then do refunds follow them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.kernel.errors import NotAllowed
from accounts.kernel.governance import SettingRefused, setting_change_approve, setting_change_propose
from postings.models import MerchantReserve, RefundPolicy, RefundStatus
from postings.services import Leg, posting_create, refund_create

pytestmark = pytest.mark.django_db


def test_a_refund_policy_takes_effect_when_a_second_admin_approves_it(people, ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100")
    payment = posting_create(
        request_no="pay",
        business_type="transfer",
        posted_by="t",
        legs=[Leg.debit(payer.account_no, "100"), Leg.credit(payee.account_no, "100")],
    )
    values = {"business_type": "transfer", "window_days": 30, "rounding": "fees_down", "approval_above": "20.00"}
    with pytest.raises(NotAllowed):
        setting_change_propose(acting_user=people["Finance staff"], model=RefundPolicy, values=values)
    change = setting_change_propose(acting_user=people["maker"], model=RefundPolicy, values=values)
    assert not RefundPolicy.objects.exists()
    assert refund_create(serial_no=payment.serial_no, request_no="r1", amount="30", requested_by="t").status == (
        RefundStatus.POSTED
    )
    with pytest.raises(NotAllowed):
        setting_change_approve(acting_user=people["maker"], change_id=change.pk)
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    assert RefundPolicy.objects.get().approval_above == Decimal("20.00")
    pending = refund_create(serial_no=payment.serial_no, request_no="r2", amount="30", requested_by="t")
    assert pending.status == RefundStatus.PENDING


def test_a_reserve_in_another_currency_or_category_is_refused(people, ledger):
    merchant = ledger.cash()
    for reserve in (ledger.cash(currency="USD"), ledger.credit(), merchant):
        with pytest.raises(SettingRefused):
            setting_change_propose(
                acting_user=people["maker"],
                model=MerchantReserve,
                values={"account": merchant.pk, "reserve_account": reserve.pk},
            )
    good = ledger.cash(merchant.member)
    change = setting_change_propose(
        acting_user=people["maker"], model=MerchantReserve, values={"account": merchant.pk, "reserve_account": good.pk}
    )
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    assert MerchantReserve.objects.get().reserve_account == good
