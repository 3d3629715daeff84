"""Opening accounts, their numbers, status changes and the chart lock."""

from decimal import Decimal

import pytest

from accounts.exceptions import AccountClosed, ChartLocked, CustomerMismatch, InsufficientFunds
from accounts.kernel.errors import IllegalTransition, LedgerValidationError
from accounts.models import AccountStatusChange, Customer
from accounts.services import (
    account_change_status,
    account_open,
    account_set_credit_limit,
    account_type_save,
    customer_create,
    luhn_check_digit,
)
from postings.services import hold_place

pytestmark = pytest.mark.django_db


def test_account_number_is_subject_entity_sequence_and_check_digit(ledger):
    account = ledger.cash()
    no = account.account_no
    assert len(no) == 17 and no.isdigit()
    assert no.startswith("2241" + f"{ledger.entity.id:03d}")
    assert int(no[7:16]) == account.id
    assert luhn_check_digit(no[:-1]) == no[-1]


def test_luhn_catches_a_mistyped_digit():
    body = "224100100000004"
    good = body + luhn_check_digit(body)
    typo = good[:5] + str((int(good[5]) + 1) % 10) + good[6:]
    assert luhn_check_digit(typo[:-1]) != typo[-1]


def test_internal_accounts_have_no_member_and_customer_accounts_need_one(ledger):
    with pytest.raises(LedgerValidationError):
        account_open(entity=ledger.entity, account_type=ledger.types["CHANNEL_CLEARING"], member=ledger.member())
    with pytest.raises(LedgerValidationError):
        account_open(entity=ledger.entity, account_type=ledger.types["USER_CASH"])


def test_only_credit_accounts_have_a_limit(ledger):
    with pytest.raises(LedgerValidationError):
        account_open(
            entity=ledger.entity, account_type=ledger.types["USER_CASH"], member=ledger.member(), credit_limit="100"
        )


def test_status_changes_are_recorded_with_reason_and_actor(ledger):
    account = ledger.cash()
    account_change_status(account=account, to_status="debit_blocked", reason="fraud suspicion", actor="risk:wang")
    account_change_status(account=account, to_status="active", reason="cleared", actor="risk:wang")
    history = list(
        AccountStatusChange.objects.filter(account=account)
        .order_by("id")
        .values_list("from_status", "to_status", "reason", "changed_by")
    )
    assert history == [
        ("active", "debit_blocked", "fraud suspicion", "risk:wang"),
        ("debit_blocked", "active", "cleared", "risk:wang"),
    ]


def test_a_reason_is_required(ledger):
    with pytest.raises(LedgerValidationError):
        account_change_status(account=ledger.cash(), to_status="blocked", reason="  ", actor="x")


def test_close_only_at_zero_and_without_holds(ledger):
    account = ledger.cash()
    ledger.recharge(account, "5")
    with pytest.raises(IllegalTransition):
        account_change_status(account=account, to_status="closed", reason="leaving", actor="ops")
    empty = ledger.cash()
    account_change_status(account=empty, to_status="closed", reason="leaving", actor="ops")
    empty.refresh_from_db()
    assert empty.status == "closed" and empty.closed_on is not None
    with pytest.raises(AccountClosed):
        account_change_status(account=empty, to_status="active", reason="oops", actor="ops")


def test_cannot_close_with_frozen_money(ledger):
    account = ledger.cash()
    ledger.recharge(account, "5")
    hold_place(account_no=account.account_no, amount="5", reason="x", request_no="h", actor="t")
    with pytest.raises(IllegalTransition):
        account_change_status(account=account, to_status="closed", reason="leaving", actor="ops")


def test_a_credit_limit_lowered_below_what_is_used_stops_purchases_not_repayments(ledger):
    from postings.services import posting_create_by_rule

    credit, shop, cash = ledger.credit(limit="1000"), ledger.cash(), ledger.cash()
    ledger.recharge(cash, "500")

    def purchase(request_no, amount):
        return posting_create_by_rule(
            business_type="credit_purchase",
            request_no=request_no,
            posted_by="t",
            params={"credit_account": credit.account_no, "merchant_account": shop.account_no, "amount": amount},
        )

    purchase("cp", "600")
    change = account_set_credit_limit(account=credit, credit_limit="400", reason="risk review", actor="risk")
    assert (change.old_limit, change.new_limit, change.used, change.changed_by) == (
        Decimal("1000"),
        Decimal("400"),
        Decimal("600"),
        "risk",
    )
    assert ledger.fresh(credit).available == Decimal("-200")
    with pytest.raises(InsufficientFunds, match="short by 200.01"):
        purchase("cp2", "0.01")
    posting_create_by_rule(
        business_type="credit_repayment",
        request_no="rp",
        posted_by="t",
        params={"cash_account": cash.account_no, "credit_account": credit.account_no, "amount": "100"},
    )  # still above the limit after it: a repayment is never refused for the limit
    assert ledger.balance(credit) == Decimal("500")
    with pytest.raises(InsufficientFunds):
        purchase("cp3", "1")
    assert account_set_credit_limit(account=credit, credit_limit="400", reason="again", actor="risk") is None


def test_a_credit_limit_change_needs_a_reason_and_an_asset_account(ledger):
    with pytest.raises(LedgerValidationError, match="reason"):
        account_set_credit_limit(account=ledger.credit(), credit_limit="5", reason=" ", actor="risk")
    with pytest.raises(LedgerValidationError, match="Only asset"):
        account_set_credit_limit(account=ledger.cash(), credit_limit="5", reason="x", actor="risk")


def test_chart_is_fixed_once_used(ledger):
    cash_type = ledger.types["USER_CASH"]
    cash_type.name = "Wallet balance"
    account_type_save(account_type=cash_type)  # names may change any time
    ledger.cash()
    cash_type.category = "asset"
    with pytest.raises(ChartLocked):
        account_type_save(account_type=cash_type)
    cash_type.refresh_from_db()
    cash_type.code = "WALLET"
    with pytest.raises(ChartLocked):
        account_type_save(account_type=cash_type)


def test_a_customer_is_found_again_by_its_id_document():
    first = customer_create(kind="person", name="Zhang  Wei", id_type="resident_id", id_no="110101199003070011")
    again = customer_create(kind="person", name="zhang wei ", id_type="resident_id", id_no="110101199003070011")
    assert again.pk == first.pk and Customer.objects.count() == 1


@pytest.mark.parametrize("kind, name", [("person", "Li Na"), ("company", "Zhang Wei")])
def test_an_id_document_under_another_name_or_kind_is_refused(kind, name):
    customer_create(kind="person", name="Zhang Wei", id_type="resident_id", id_no="110101199003070011")
    with pytest.raises(CustomerMismatch) as refused:
        customer_create(kind=kind, name=name, id_type="resident_id", id_no="110101199003070011")
    assert refused.value.code == "customer_mismatch" and refused.value.http_status == 409
    if name != "Zhang Wei":
        assert "Zhang" not in refused.value.message  # the registered name is not disclosed
    assert Customer.objects.get().name == "Zhang Wei"


def test_a_second_open_account_of_a_type_found_by_type_is_refused(ledger):
    """Rules and the withdrawal fee find FEE_INCOME by type: a second one
    would leave them unable to choose, so it is refused at opening. Once the
    first is closed, a replacement may be opened."""
    first = account_open(entity=ledger.entity, account_type=ledger.types["FEE_INCOME"])
    with pytest.raises(LedgerValidationError, match="already has an open FEE_INCOME") as refused:
        account_open(entity=ledger.entity, account_type=ledger.types["FEE_INCOME"])
    assert refused.value.fields == {"account_type": "FEE_INCOME", "account_no": first.account_no}
    assert first.__class__.objects.filter(account_type__code="FEE_INCOME").count() == 1

    # Another currency is another account.
    account_open(entity=ledger.entity, account_type=ledger.types["FEE_INCOME"], currency="USD")
    account_change_status(account=first, to_status="closed", reason="replaced", actor="finance")
    second = account_open(entity=ledger.entity, account_type=ledger.types["FEE_INCOME"])
    assert second.account_no != first.account_no


def test_channel_clearing_accounts_are_many_per_entity(ledger):
    one = account_open(entity=ledger.entity, account_type=ledger.types["CHANNEL_CLEARING"])
    two = account_open(entity=ledger.entity, account_type=ledger.types["CHANNEL_CLEARING"])
    assert one.account_no != two.account_no
