"""Falling back from the one call to the full path is counted and logged
(issue 17, section 2): services.FULL_PATH_FALLBACKS by reason, and an INFO
record of postings.services naming the reason. A refusal of the rules is
not a fall back: the one call makes it itself."""

import logging

import pytest

from accounts.kernel.errors import InvalidAmount
from postings import services
from postings.exceptions import AccountBlocked
from postings.services import Leg, PostingRequest, posting_create, posting_create_batch


def post(request_no, *legs, currency=None):
    return posting_create(
        request_no=request_no, business_type="transfer", posted_by="test", currency=currency, legs=list(legs)
    )


def fallbacks_logged(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "postings.services" and "full path" in r.getMessage()]


@pytest.mark.django_db
def test_a_posting_the_one_call_cannot_decide_is_counted_and_logged(ledger, caplog):
    wallet, payee = ledger.cash(), ledger.cash()
    ledger.recharge(wallet, "10")
    before = services.FULL_PATH_FALLBACKS["decimal_places"]
    caplog.set_level(logging.INFO, logger="postings.services")

    # No currency given: which currency's places the amount breaks is the accounts' to say.
    with pytest.raises(InvalidAmount):
        post("coarse", Leg.debit(wallet.account_no, "0.001"), Leg.credit(payee.account_no, "0.001"))

    assert services.FULL_PATH_FALLBACKS["decimal_places"] == before + 1
    assert fallbacks_logged(caplog) == ["posting falls back to the full path: decimal_places"]


@pytest.mark.django_db
def test_a_refusal_of_the_rules_is_no_fall_back(ledger, caplog):
    from accounts.services import account_change_status

    wallet, payee = ledger.cash(), ledger.cash()
    ledger.recharge(wallet, "10")
    account_change_status(account=wallet, to_status="debit_blocked", reason="court", actor="ops")
    before = sum(services.FULL_PATH_FALLBACKS.values())
    caplog.set_level(logging.INFO, logger="postings.services")

    with pytest.raises(AccountBlocked):
        post("blocked", Leg.debit(wallet.account_no, "1"), Leg.credit(payee.account_no, "1"), currency="CNY")

    assert sum(services.FULL_PATH_FALLBACKS.values()) == before
    assert fallbacks_logged(caplog) == []


@pytest.mark.django_db
def test_a_batch_item_the_call_does_not_take_is_counted(ledger, caplog):
    from accounts.services import account_change_status

    wallet, payee, blocked = ledger.cash(), ledger.cash(), ledger.cash()
    ledger.recharge(wallet, "10")
    ledger.recharge(blocked, "10")
    account_change_status(account=blocked, to_status="debit_blocked", reason="court", actor="ops")
    before = services.FULL_PATH_FALLBACKS["batch_items_left"]
    caplog.set_level(logging.INFO, logger="postings.services")

    results = posting_create_batch(
        [
            PostingRequest("b-1", "transfer", [Leg.debit(wallet.account_no, "1"), Leg.credit(payee.account_no, "1")]),
            PostingRequest("b-2", "transfer", [Leg.debit(blocked.account_no, "1"), Leg.credit(payee.account_no, "1")]),
            PostingRequest("b-3", "transfer", [Leg.debit(wallet.account_no, "2"), Leg.credit(payee.account_no, "2")]),
        ],
        posted_by="test",
    )

    assert [r.error.code if r.error else "ok" for r in results] == ["ok", "account_blocked", "ok"]
    # The call wrote b-1 and stopped at b-2: b-2 and b-3 went down the full path.
    assert services.FULL_PATH_FALLBACKS["batch_items_left"] == before + 2
    assert fallbacks_logged(caplog) == ["posting falls back to the full path: batch_items_left"]
