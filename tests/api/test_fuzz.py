"""Schemathesis over /api/schema/: every operation, every phase (examples,
coverage, fuzzing, stateful), every check — what `schemathesis run --checks
all` does, run in-process by schemathesis's
own engine against the live test server, with a bounded example count.

Passes when the run reports no failure other than business refusals: a
request that fits the schema but that the ledger refuses for a reason the
schema documents (422 insufficient_funds, 404 for an account that does not
exist, 400 invalid_amount for three decimals in CNY...). That is, a failure
is dropped only when its response is a 4xx the operation documents, in the
error shape, with a code the schema lists for that status, and not a
refusal of the request's shape or format by the serializers — except one
about a rule across fields that the schema describes in words
(``CROSS_FIELD``). Anything else — a
5xx, an undocumented status or body, a schema-valid request refused as
malformed (the schema looser than the server), a malformed one accepted (the
schema stricter), an unresolvable reference — fails the test.

Generated account numbers would name no account, so the calls of positive
cases carry the book's real ones (path, legs, counter accounts, rule
parameters ending in ``_account``): the calls then reach the services with
generated amounts, types and texts, and stay valid against the schema.

Deterministic by default (a fixed seed, so CI is repeatable); set
LEDGER_FUZZ_RANDOM=1 and LEDGER_FUZZ_EXAMPLES=200 for a deeper random run.
"""

from __future__ import annotations

import json
import os
import time
import zlib

import pytest
import schemathesis
from schemathesis.engine import events
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

from postings.credit.models import CreditProduct
from reports.settlement.models import SettlementTerm

from .conftest import ALL_SCOPES, client_with_key

FUZZ_EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "10"))
RANDOM = os.environ.get("LEDGER_FUZZ_RANDOM") == "1"
PHASES = ("examples", "coverage", "fuzzing", "stateful")

# Rules across fields that JSON Schema cannot state and the schema describes
# in words: (operation, field the error names). A schema-valid request that
# breaks one is a business refusal like any other.
CROSS_FIELD = {
    ("GET /api/v1/accounts/{account_no}/entries", "accounting_date_before"),
    ("GET /api/v1/accounts/{account_no}/balance", "as_of"),
    ("GET /api/v1/accounts/{account_no}/statement", "to"),
    ("GET /api/v1/postings", "to"),
    ("POST /api/v1/holds", "expires_at"),
}

# How config/api/errors.py words a request the serializers refused (its
# shape, a field's format): the schema should have refused it too. The
# ledger's own validation_error (a rule across fields, e.g. "Withdrawals are
# paid from a member's cash account", or what a posting rule's params lack)
# has the ledger's message and is a business refusal.
MALFORMED = ("The request is not valid", "The body is not valid JSON")

ACCOUNT_FIELDS = {
    "account_no",
    "counter_account_no",
    "buyer_account_no",
    "merchant_account_no",
    "payer_account_no",
    "payee_account_no",
    "cash_account_no",
}


def _with_real_accounts(value, accounts: list[str]):
    """``value`` with every account number replaced by one of ``accounts``
    (chosen by the generated value, so the choice varies between examples)."""
    if isinstance(value, dict):
        return {
            k: _pick(v, accounts)
            if isinstance(v, str) and (k in ACCOUNT_FIELDS or k.endswith("_account"))
            else _with_real_accounts(v, accounts)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_real_accounts(v, accounts) for v in value]
    return value


def _pick(value: str, accounts: list[str]) -> str:
    return accounts[zlib.crc32(value.encode("utf-8", "surrogatepass")) % len(accounts)]


def _documented_refusal(case, response) -> bool:
    """A 4xx the operation documents, in the error shape, with one of the
    codes listed for that status, and not a malformed-request refusal
    (unless about a rule across fields the schema describes)."""
    status = response.status_code
    documented = case.operation.definition.raw["responses"]
    if not 400 <= status < 500 or str(status) not in documented:
        return False
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    codes = _codes(case.operation.schema.raw_schema, status)
    if error.get("code") not in codes:
        return False
    if error["code"] == "validation_error" and error["message"].startswith(MALFORMED):
        label = f"{case.operation.method.upper()} {case.operation.path}"
        return bool(error["fields"]) and all((label, f) in CROSS_FIELD for f in error["fields"])
    return True


def _codes(raw_schema: dict, status: int) -> list[str]:
    return raw_schema["components"]["schemas"][f"Error{status}DetailCodeEnum"]["enum"]


@pytest.fixture
def fuzz_schema(live_server, book):
    """The schema with a key of every scope and the book's accounts, called
    over HTTP on the live test server (its own thread and connection: the
    book is committed, and the database flushed afterwards)."""
    _, key = client_with_key("fuzzer", ALL_SCOPES)
    for code in ("ESCROW", "COUPON"):  # so guarantee orders reach their steps
        book.ledger.internal(code)
    # Bob is a T+1 merchant, so GET .../settlement answers 200 for him (404 no_settlement_term for the others).
    bob_pending = book.ledger.cash(book.bob.member)
    SettlementTerm.objects.create(account=book.bob, pending_account=bob_pending, days=1)
    book.ledger.recharge(bob_pending, "12.34")
    # Carol's credit line is billed under a product, so its credit, bills and repayments answer 200.
    CreditProduct.objects.create(entity=book.ledger.entity, currency="CNY")
    for code in ("INTEREST_INCOME", "PENALTY_INCOME"):
        book.ledger.internal(code)
    accounts = [a.account_no for a in (book.alice, book.bob, book.carol_credit, book.channel, book.fee_income)]
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    # Connection: close, so no live-server thread sits on a kept-alive socket
    # (and its database connection) when the test database is dropped.
    schema.config.update(headers={"Authorization": f"Api-Key {key}", "Connection": "close"})
    schema.config.generation.update(max_examples=FUZZ_EXAMPLES, deterministic=not RANDOM, database="none")
    for name in PHASES:
        phase = getattr(schema.config.phases, name)
        phase.enabled = True
        phase.generation.update(max_examples=FUZZ_EXAMPLES, deterministic=not RANDOM, database="none")
    schema.config.phases.stateful.max_steps = 6

    def before_call(context, case, kwargs):
        if case.operation.schema is not schema:
            return
        if case.meta is not None and case.meta.generation.mode.is_negative:
            return
        if isinstance(case.body, (dict, list)):
            case.body = _with_real_accounts(case.body, accounts)
        if case.path_parameters and "account_no" in case.path_parameters:
            case.path_parameters["account_no"] = _pick(str(case.path_parameters["account_no"]), accounts)

    @schema.hook
    def filter_failure(context, failure, case, response):
        return not (_is_acceptance_failure(failure) and _documented_refusal(case, response))

    # before_call can only be registered globally: for this test only.
    schemathesis.hook(before_call)
    try:
        yield schema
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)


def _is_acceptance_failure(failure) -> bool:
    return type(failure).__name__ == "RejectedPositiveData"


def test_schemathesis_finds_nothing_in_any_phase(fuzz_schema):
    started = time.monotonic()
    failures, errors, phases, checks, transitions = [], [], {}, set(), 0
    scenarios = dict.fromkeys(PHASES, 0)
    for event in schemathesis.engine.from_schema(fuzz_schema).execute():
        if isinstance(event, events.PhaseStarted) and event.payload is not None:
            transitions = event.payload.transitions_selected  # links between operations, inferred
        elif isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status.value
        elif isinstance(event, events.ScenarioFinished):
            scenarios[event.phase.value] += 1
            checks.update(check.name for results in event.recorder.checks.values() for check in results)
            failures.extend(_failures_of(event.recorder))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            errors.append(repr(event.exception))
    elapsed = time.monotonic() - started
    print(f"schemathesis: {scenarios} scenarios, {transitions} stateful links, {len(checks)} checks, {elapsed:.0f} s")
    assert not errors, "\n".join(errors)
    assert not failures, "\n\n".join(failures[:20])
    assert {name: phases.get(name) for name in PHASES} == dict.fromkeys(PHASES, "success")
    assert all(scenarios.values()), scenarios
    assert transitions, "the stateful phase found no links between operations to follow"
    assert len(checks) == 14, sorted(checks)  # every check schemathesis has for OpenAPI


def _failures_of(recorder: ScenarioRecorder) -> list[str]:
    out = []
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            case = recorder.cases[case_id].value
            interaction = recorder.interactions.get(case_id)
            body = interaction.response.content[:300] if interaction and interaction.response else b""
            out.append(
                f"{recorder.label} [{check.name}] {failure.title}: {failure.message}\n"
                f"  {case.method} {case.formatted_path} body={case.body!r:.300} -> {body!r}"
            )
    return out
