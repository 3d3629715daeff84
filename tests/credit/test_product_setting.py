"""The credit product is a control setting: a ledger admin proposes a
change, another approves it, its version rises, and the bills and accruals
after it are computed under the new version; a repayment follows the
allocation order in force."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.kernel.errors import NotAllowed
from accounts.kernel.governance import SettingRefused, setting_change_approve, setting_change_propose
from postings.credit.governed import CreditProductSetting
from postings.credit.models import CreditProduct
from postings.credit.services import bill_repay
from tests.governance.conftest import people  # noqa: F401 (a fixture)

from .books import D, accruals_of, bills_of, buy, ensure_credit_roles, member, open_on, product, run_until

pytestmark = pytest.mark.django_db


def test_a_product_change_is_approved_by_a_second_admin_and_versioned(people, ledger):  # noqa: F811
    ensure_credit_roles()
    open_on(ledger.entity, date(2026, 1, 1))
    current = product(ledger)
    m = member(ledger)
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 12))
    (bill,) = bills_of(m.credit)
    assert (bill.product_version, accruals_of(m.credit)[0].product_version) == (1, 1)

    values = {
        **CreditProductSetting().values(current),
        "daily_interest_rate": "0.00100000",
        "allocation_order": "principal,interest,penalty",
    }
    with pytest.raises(NotAllowed):
        setting_change_propose(
            acting_user=people["Finance staff"], model=CreditProduct, object_id=current.pk, values=values
        )
    with pytest.raises(SettingRefused, match="due days"):
        setting_change_propose(
            acting_user=people["maker"], model=CreditProduct, object_id=current.pk, values={**values, "due_days": 40}
        )
    change = setting_change_propose(
        acting_user=people["maker"], model=CreditProduct, object_id=current.pk, values=values
    )
    assert CreditProduct.objects.get().daily_interest_rate == D("0.0005")  # nothing changes before the approval
    with pytest.raises(NotAllowed):
        setting_change_approve(acting_user=people["maker"], change_id=change.pk)
    setting_change_approve(acting_user=people["checker"], change_id=change.pk)
    assert CreditProduct.objects.get().version == 2

    run_until(ledger.entity, date(2026, 2, 13))  # the 13th's interest under version 2: 1,000.00 x 0.1 % = 1.00
    thirteenth = [a for a in accruals_of(m.credit) if a.accrual_date == date(2026, 2, 13)]
    assert [(a.kind, a.amount, a.product_version) for a in thirteenth] == [
        ("interest", D("1.00"), 2),
        ("penalty", D("0.03"), 2),
    ]
    paid = bill_repay(
        credit_account_no=m.credit.account_no,
        cash_account_no=m.cash.account_no,
        amount="100",
        request_no="principal-first",
        posted_by="app",
    )
    a = paid.allocation
    assert (a.principal, a.interest, a.penalty, a.allocation_order) == (
        D("100"),
        D("0"),
        D("0"),
        "principal,interest,penalty",
    )
