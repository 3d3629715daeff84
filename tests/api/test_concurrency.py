"""Concurrent identical requests through the API, with real threads, each
on its own PostgreSQL connection: one posting, one hold, one account; every
caller gets the same answer."""

from __future__ import annotations

import json
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Account
from config.api.models import ApiCallLog
from postings.models import Entry, Hold, Posting
from postings.selectors import account_chain_breaks

from .conftest import ALL_SCOPES, client_with_key, transfer_body

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 20


def post_in_parallel(key: str, path: str, bodies: list[dict]):
    """POST ``bodies[i]`` from thread i, all released at the same instant;
    returns (status, parsed body) per thread, or the exception it raised."""
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def work(i):
        try:
            http = Client()
            barrier.wait()
            r = http.post(
                f"/api/v1/{path}",
                data=json.dumps(bodies[i]),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Api-Key {key}",
            )
            results[i] = (r.status_code, r.content)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


@pytest.fixture
def funded(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100.00")
    _, key = client_with_key("trade", ALL_SCOPES)
    return payer, payee, key


@pytest.mark.parametrize("amount", ["30.00", "60.00"])
def test_twenty_identical_postings_post_once(ledger, funded, amount):
    """60 of 100: a duplicate that arrives after the first committed finds
    only 40 available; it must still hear the original, not insufficient_funds."""
    payer, payee, key = funded
    body = transfer_body(payer, payee, amount, request_no="dup-1")
    results = post_in_parallel(key, "postings", [body] * WORKERS)
    statuses = Counter(status for status, _ in results)
    assert statuses == Counter({201: 1, 200: WORKERS - 1}), (statuses, results)
    assert len({content for _, content in results}) == 1, "every caller gets the same body"
    assert Posting.objects.filter(request_no="dup-1").count() == 1
    assert Entry.objects.filter(posting__request_no="dup-1").count() == 2
    assert ledger.balance(payer) == Decimal("100.00") - Decimal(amount)
    assert ledger.balance(payee) == Decimal(amount)
    assert account_chain_breaks(account=ledger.fresh(payer)) == []
    assert ApiCallLog.objects.filter(request_no="dup-1").count() == WORKERS


def test_twenty_different_postings_never_overdraw(ledger, funded):
    payer, payee, key = funded
    bodies = [transfer_body(payer, payee, "10.00", request_no=f"w-{i}") for i in range(WORKERS)]
    results = post_in_parallel(key, "postings", bodies)
    statuses = Counter(status for status, _ in results)
    assert statuses == Counter({201: 10, 422: 10}), statuses
    refused = [json.loads(content)["error"]["code"] for status, content in results if status == 422]
    assert set(refused) == {"insufficient_funds"}
    assert ledger.balance(payer) == Decimal("0.00")
    assert account_chain_breaks(account=ledger.fresh(payer)) == []


def test_twenty_identical_holds_hold_once(ledger, funded):
    payer, _, key = funded
    body = {"request_no": "h-1", "account_no": payer.account_no, "amount": "60", "reason": "order O-9"}
    results = post_in_parallel(key, "holds", [body] * WORKERS)
    assert Counter(status for status, _ in results) == Counter({201: 1, 200: WORKERS - 1})
    assert Hold.objects.count() == 1
    assert ledger.fresh(payer).frozen == Decimal("60.00")


def test_twenty_identical_account_openings_open_one(ledger, funded):
    payer, _, key = funded
    before = Account.objects.count()
    body = {"request_no": "open-1", "member_no": payer.member.member_no, "entity": "MAIN", "account_type": "USER_CASH"}
    results = post_in_parallel(key, "accounts", [body] * WORKERS)
    assert Counter(status for status, _ in results) == Counter({201: 1, 200: WORKERS - 1})
    assert len({content for _, content in results}) == 1
    assert Account.objects.count() == before + 1


def test_twenty_identical_members_register_one(ledger, funded):
    _, _, key = funded
    body = {
        "member_no": "RACE-1",
        "name": "Wang Fang",
        "customer": {"kind": "person", "id_no": "310101199001010022", "name": "Wang Fang"},
    }
    results = post_in_parallel(key, "members", [body] * WORKERS)
    assert Counter(status for status, _ in results) == Counter({201: 1, 200: WORKERS - 1}), results
    assert len({content for _, content in results}) == 1


def test_twenty_identical_withdrawals_freeze_once(ledger, funded):
    from withdrawals.models import Withdrawal

    from ..withdrawals.conftest import CARD_OK, ensure_withdrawal_defaults

    ensure_withdrawal_defaults()
    ledger.internal("FEE_INCOME")
    payer, _, key = funded
    body = {
        "request_no": "w-1",
        "account_no": payer.account_no,
        "amount": "60.00",
        "bank_card": {"holder": "Li Lei", "bank": "ICBC", "number": CARD_OK},
    }
    results = post_in_parallel(key, "withdrawals", [body] * WORKERS)
    assert Counter(status for status, _ in results) == Counter({201: 1, 200: WORKERS - 1}), results
    assert {json.loads(content)["withdrawal_id"] for _, content in results} == {Withdrawal.objects.get().id}
    assert Hold.objects.count() == 1
    assert ledger.fresh(payer).frozen == Decimal("62.00")  # 60 + fee 2


def test_twenty_identical_releases_release_once(ledger, funded):
    payer, _, key = funded
    hold = post_in_parallel(
        key, "holds", [{"request_no": "h-1", "account_no": payer.account_no, "amount": "60", "reason": "order"}]
    )[0]
    hold_id = json.loads(hold[1])["hold_id"]
    results = post_in_parallel(key, f"holds/{hold_id}/release", [{"request_no": "r-1"}] * WORKERS)
    assert Counter(status for status, _ in results) == Counter({200: WORKERS}), results
    assert len({content for _, content in results}) == 1
    assert ledger.fresh(payer).frozen == Decimal("0.00")


def test_twenty_identical_batches_post_each_item_once(ledger, funded):
    payer, payee, key = funded
    body = {
        "postings": [
            transfer_body(payer, payee, "60.00", request_no="b-1"),
            transfer_body(payer, payee, "30.00", request_no="b-2"),
        ]
    }
    results = post_in_parallel(key, "postings/batch", [body] * WORKERS)
    assert {status for status, _ in results} == {200}
    outcomes = Counter()
    postings = set()
    for _, content in results:
        for item in json.loads(content)["results"]:
            outcomes[(item["request_no"], item["status"])] += 1
            postings.add(json.dumps(item["posting"], sort_keys=True))
    assert outcomes == Counter(
        {
            ("b-1", "created"): 1,
            ("b-1", "replayed"): WORKERS - 1,
            ("b-2", "created"): 1,
            ("b-2", "replayed"): WORKERS - 1,
        }
    ), outcomes
    assert len(postings) == 2, "every caller sees the same two postings"
    assert ledger.balance(payer) == Decimal("10.00")
