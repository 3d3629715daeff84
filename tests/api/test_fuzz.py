"""Schemathesis against /api/schema/, every operation, bounded.

Each operation gets ``FUZZ_EXAMPLES`` generated requests that fit the
schema (positive) and as many that break it (negative: wrong types, missing
fields, values out of pattern or range), sent through Django's WSGI handler
with a key that has every scope, against a small funded book. Checked:

* never a 5xx (``not_a_server_error``);
* the status code is one the schema documents for the operation, the body
  is JSON and matches that status's schema, headers too (the conformance
  checks) — so every error really is the one documented shape;
* a request that breaks the schema is refused with a 4xx
  (``negative_data_rejection``): the schema is no looser than the API.

Generated account numbers would name no account, so in positive cases the
account numbers (path, legs, counter accounts, rule parameters ending in
``_account``) are swapped for the book's real ones: the calls then reach
the services with generated amounts, types and texts. The swap keeps the
request valid against the schema.
Deterministic by default (a fixed seed, so CI is repeatable); set
LEDGER_FUZZ_RANDOM=1 and LEDGER_FUZZ_EXAMPLES=200 for a deeper random run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import ALL_SCOPES, client_with_key

FUZZ_EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "12"))
RANDOM = os.environ.get("LEDGER_FUZZ_RANDOM") == "1"
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# Loaded at collection: generating the schema reads no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=FUZZ_EXAMPLES,
    deterministic=not RANDOM,
    database="none",
    # The key is sent by the test (below), not generated or negated as a
    # parameter: unauthenticated calls are tested in test_auth.py.
    with_security_parameters=False,
)


ACCOUNT_FIELDS = {"account_no", "counter_account_no"}


def _with_real_accounts(value, accounts: list[str]):
    """``value`` with every account number replaced by one of ``accounts``
    (chosen by the generated value, so the choice varies between examples)."""
    if isinstance(value, dict):
        return {
            k: accounts[hash(v) % len(accounts)]
            if isinstance(v, str) and (k in ACCOUNT_FIELDS or k.endswith("_account"))
            else _with_real_accounts(v, accounts)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_real_accounts(v, accounts) for v in value]
    return value


@pytest.fixture
def fuzz_key(db, book):
    """A key with every scope. While the test runs, requests through the WSGI
    handler keep the test's database connection (and transaction) open, as
    Django's own test client arranges it."""
    _, key = client_with_key("fuzzer", ALL_SCOPES)
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield key
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
# One book and one key for all of an operation's examples, on purpose: the
# writes of earlier examples stay (in the test's transaction) for later ones.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
def test_api_conforms_to_its_schema(case, fuzz_key, book):
    checks = list(CONFORMANCE)
    if case.meta is not None and case.meta.generation.mode.is_negative:
        checks.append(negative_data_rejection)
    else:
        accounts = [a.account_no for a in (book.alice, book.bob, book.carol_credit, book.channel, book.fee_income)]
        if isinstance(case.body, (dict, list)):
            case.body = _with_real_accounts(case.body, accounts)
        if case.path_parameters and "account_no" in case.path_parameters:
            case.path_parameters["account_no"] = accounts[hash(case.path_parameters["account_no"]) % len(accounts)]
    case.call_and_validate(headers={"Authorization": f"Api-Key {fuzz_key}"}, checks=checks)
