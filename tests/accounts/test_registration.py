"""Member registration and account opening as services with their own
idempotency (the API only shapes them): the same request again answers the
first result, the same key with other details is refused, and a refusal
leaves nothing behind."""

import pytest

from accounts.exceptions import CustomerMismatch
from accounts.kernel.errors import IdempotencyConflict
from accounts.models import Account, AccountOpenRequest, Customer, Member
from accounts.services import account_open_once, member_register

pytestmark = pytest.mark.django_db


def register(**changes):
    details = dict(
        member_no="M-REG-1", name="Li Lei", customer_kind="person", customer_name="Li Lei", id_no="110101199001011234"
    )
    return member_register(**{**details, **changes})


def test_a_member_is_registered_once_per_member_no():
    first = register()
    assert first.replayed is False and first.customer.id_type == "resident_id"
    again = register()
    assert again.replayed is True and again.pk == first.pk
    with pytest.raises(IdempotencyConflict):
        register(name="Han Meimei")
    assert (Member.objects.count(), Customer.objects.count()) == (1, 1)


def test_a_company_defaults_to_its_business_licence():
    member = register(member_no="M-CO-1", customer_kind="company", customer_name="Acme Ltd", id_no="91110000X")
    assert member.customer.id_type == "business_license"


def test_a_refused_customer_registers_no_member():
    register()
    with pytest.raises(CustomerMismatch):
        register(member_no="M-REG-2", customer_name="Somebody Else")
    assert not Member.objects.filter(member_no="M-REG-2").exists()


def test_an_account_is_opened_once_per_request_no(ledger):
    member = register()
    opening = dict(entity=ledger.entity, account_type=ledger.types["USER_CASH"], member=member, name="wallet")
    first = account_open_once(source_system="crm", request_no="open-1", **opening)
    assert first.replayed is False and first.currency == ledger.entity.base_currency
    again = account_open_once(source_system="crm", request_no="open-1", **opening)
    assert again.replayed is True and again.pk == first.pk
    # The same number from another source system is another request.
    other = account_open_once(source_system="app", request_no="open-1", **opening)
    assert other.pk != first.pk
    with pytest.raises(IdempotencyConflict):
        account_open_once(source_system="crm", request_no="open-1", **{**opening, "currency": "USD"})
    assert Account.objects.filter(member=member).count() == 2
    assert AccountOpenRequest.objects.count() == 2
