"""Bad input gets a clear domain error with a stable code, and writes nothing."""

from decimal import Decimal

import pytest

from accounts.kernel.errors import LedgerError
from accounts.kernel.money import Money
from accounts.services import account_change_status
from postings.models import Entry, Hold, HoldEvent, Posting
from postings.services import Leg, hold_place, hold_settle, posting_create, posting_create_by_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def accts(ledger):
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    return a, b


def snapshot():
    return (
        Posting.objects.count(),
        Entry.objects.count(),
        Hold.objects.count(),
        HoldEvent.objects.count(),
        sorted(Entry.objects.values_list("account_id", "balance_after")),
    )


def expect(code, fn):
    before = snapshot()
    with pytest.raises(LedgerError) as err:
        fn()
    assert err.value.code == code, err.value
    assert err.value.message
    assert snapshot() == before, "a refused request must write nothing"
    return err.value


def transfer(a, b, amount_a, amount_b=None, **kw):
    return posting_create(
        request_no=kw.pop("request_no", "bad-1"),
        business_type=kw.pop("business_type", "transfer"),
        posted_by="t",
        legs=[
            Leg.debit(a.account_no, amount_a),
            Leg.credit(b.account_no, amount_b if amount_b is not None else amount_a),
        ],
        **kw,
    )


def test_unbalanced_legs(accts):
    a, b = accts
    expect("unbalanced_posting", lambda: transfer(a, b, "10", "9.99"))


def test_one_leg_is_not_a_posting(accts):
    a, _ = accts
    expect(
        "unbalanced_posting",
        lambda: posting_create(
            request_no="x", business_type="transfer", posted_by="t", legs=[Leg.debit(a.account_no, "1")]
        ),
    )


@pytest.mark.parametrize("amount", ["0", "-5", "0.001", "abc", "NaN", "Infinity", 1.5, "1e30"])
def test_bad_amounts(accts, amount):
    a, b = accts
    expect("invalid_amount", lambda: transfer(a, b, amount))


def test_float_refused_with_a_clear_message(accts):
    a, b = accts
    err = expect("invalid_amount", lambda: transfer(a, b, 0.1))
    assert "float" in err.message.lower()


def test_yen_has_no_decimals(ledger):
    a, b = ledger.cash(currency="JPY"), ledger.cash(currency="JPY")
    ledger.recharge(a, "1000")
    expect("invalid_amount", lambda: transfer(a, b, "1.5"))
    transfer(a, b, "15", request_no="yen-ok")
    assert ledger.balance(b) == Decimal("15")


def test_wrong_currency(ledger, accts):
    a, _ = accts
    usd = ledger.cash(currency="USD")
    expect("currency_mismatch", lambda: transfer(a, usd, "10"))
    expect(
        "currency_mismatch",
        lambda: posting_create(
            request_no="m",
            business_type="transfer",
            posted_by="t",
            legs=[Leg.debit(a.account_no, Money("10", "USD")), Leg.credit(accts[1].account_no, Money("10", "USD"))],
        ),
    )
    expect("currency_mismatch", lambda: transfer(a, accts[1], "10", currency="USD"))


def test_cross_entity_refused(ledger, accts):
    from accounts.models import Entity

    other = Entity.objects.create(code="HK", name="HK payments", base_currency="CNY")
    a, _ = accts
    foreign = ledger.cash(entity=other)
    expect("cross_entity", lambda: transfer(a, foreign, "10"))


def test_unknown_account(accts):
    a, _ = accts

    class Ghost:
        account_no = "99999999999999999"

    expect("not_found", lambda: transfer(a, Ghost, "10"))


def test_unknown_business_type(accts):
    a, b = accts
    expect("validation_error", lambda: transfer(a, b, "10", business_type="lottery"))


def test_closed_account(ledger, accts):
    _, b = accts
    account_change_status(account=b, to_status="closed", reason="customer left", actor="ops")
    a = accts[0]
    expect("account_closed", lambda: transfer(a, b, "10"))


@pytest.mark.parametrize(
    "status,debit_ok,credit_ok",
    [
        ("debit_blocked", False, True),
        ("credit_blocked", True, False),
        ("blocked", False, False),
    ],
)
def test_blocked_directions(ledger, accts, status, debit_ok, credit_ok):
    a, b = accts
    ledger.recharge(b, "50")
    account_change_status(account=a, to_status=status, reason="court order", actor="ops")
    if debit_ok:
        transfer(a, b, "1", request_no=f"d-{status}")
    else:
        expect("account_blocked", lambda: transfer(a, b, "1", request_no=f"d-{status}"))
    if credit_ok:
        transfer(b, a, "1", request_no=f"c-{status}")
    else:
        expect("account_blocked", lambda: transfer(b, a, "1", request_no=f"c-{status}"))


def test_insufficient_funds(accts):
    a, b = accts
    expect("insufficient_funds", lambda: transfer(a, b, "100.01"))


def test_credit_line_cannot_be_exceeded(ledger):
    credit, shop = ledger.credit(limit="300"), ledger.cash()
    expect(
        "insufficient_funds",
        lambda: posting_create_by_rule(
            business_type="credit_purchase",
            request_no="cp",
            posted_by="t",
            params={"credit_account": credit.account_no, "merchant_account": shop.account_no, "amount": "300.01"},
        ),
    )


def test_repaying_more_than_owed_is_refused(ledger):
    credit, cash = ledger.credit(limit="300"), ledger.cash()
    ledger.recharge(cash, "100")
    expect(
        "insufficient_funds",
        lambda: posting_create_by_rule(
            business_type="credit_repayment",
            request_no="rp",
            posted_by="t",
            params={"cash_account": cash.account_no, "credit_account": credit.account_no, "amount": "1"},
        ),
    )


def test_over_settling_a_hold(accts):
    a, b = accts
    hold = hold_place(account_no=a.account_no, amount="40", reason="escrow", request_no="h1", actor="t")
    expect(
        "hold_exceeded",
        lambda: hold_settle(
            hold_id=hold.id,
            request_no="s1",
            amount="40.01",
            business_type="guarantee_settlement",
            actor="t",
            counter_account_no=b.account_no,
        ),
    )


def test_hold_beyond_available(accts):
    a, _ = accts
    expect(
        "insufficient_funds",
        lambda: hold_place(account_no=a.account_no, amount="100.01", reason="x", request_no="h2", actor="t"),
    )


def test_rule_with_missing_parameters(accts):
    a, _ = accts
    err = expect(
        "validation_error",
        lambda: posting_create_by_rule(
            business_type="recharge", request_no="r", posted_by="t", params={"member_account": a.account_no}
        ),
    )
    assert set(err.fields) == {"amount", "channel_account"}


def test_rule_not_configured(accts):
    expect(
        "rule_not_configured",
        lambda: posting_create_by_rule(
            business_type="adjustment", request_no="r", posted_by="t", params={"amount": "1"}
        ),
    )


def test_request_no_is_required(accts):
    a, b = accts
    expect("validation_error", lambda: transfer(a, b, "1", request_no=""))


# ------------------------------------------------- same account (issue 18) ----


@pytest.mark.parametrize("one_call", [True, False])
def test_one_account_on_both_sides_is_refused_on_both_paths(accts, settings, one_call):
    a, b = accts
    settings.POSTING_ONE_CALL = one_call
    err = expect(
        "same_account",
        lambda: posting_create(
            request_no="self",
            business_type="transfer",
            posted_by="t",
            legs=[Leg.debit(a.account_no, "5"), Leg.credit(a.account_no, "5")],
        ),
    )
    assert err.http_status == 400 and err.fields == {"account_no": a.account_no}
    expect(
        "same_account",
        lambda: posting_create(
            request_no="self-3",
            business_type="transfer",
            posted_by="t",
            legs=[Leg.debit(a.account_no, "10"), Leg.credit(b.account_no, "5"), Leg.credit(a.account_no, "5")],
        ),
    )


def test_a_hold_settled_to_its_own_account_is_refused(accts):
    a, _ = accts
    hold = hold_place(request_no="h", account_no=a.account_no, amount="10", reason="r", actor="t")
    expect(
        "same_account",
        lambda: hold_settle(
            hold_id=hold.id,
            request_no="s",
            amount="5",
            business_type="guarantee_settlement",
            actor="t",
            counter_account_no=a.account_no,
        ),
    )


def test_a_batch_item_with_one_account_on_both_sides_is_refused_alone(accts):
    from postings.services import PostingRequest, posting_create_batch

    a, b = accts
    results = posting_create_batch(
        items=[
            PostingRequest(
                request_no="ok",
                business_type="transfer",
                legs=[Leg.debit(a.account_no, "5"), Leg.credit(b.account_no, "5")],
            ),
            PostingRequest(
                request_no="self",
                business_type="transfer",
                legs=[Leg.debit(a.account_no, "5"), Leg.credit(a.account_no, "5")],
            ),
        ],
        posted_by="t",
    )
    assert results[1].error.code == "same_account"
    assert results[0].error is None
    assert not Posting.objects.filter(request_no="self").exists()
