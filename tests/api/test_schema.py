"""The OpenAPI schema and Swagger UI: served without a key, from the
project's own static files (the machines are offline), and the error codes
table in step with the ledger's errors."""

from __future__ import annotations

import inspect
import re
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from rest_framework.exceptions import ValidationError

import accounts.exceptions
import accounts.kernel.errors
import events.webhooks.exceptions
import postings.credit.exceptions
import postings.exceptions
import reports.settlement.exceptions
import withdrawals.exceptions
from accounts.kernel.errors import LedgerError
from accounts.kernel.money import amount_and_places, parse_amount
from config.api import errors
from config.api.serializers import AmountField

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("post", "/api/v1/members"),
    ("get", "/api/v1/members/{member_no}"),
    ("get", "/api/v1/members/{member_no}/accounts"),
    ("post", "/api/v1/accounts"),
    ("get", "/api/v1/accounts/{account_no}"),
    ("get", "/api/v1/accounts/{account_no}/entries"),
    ("get", "/api/v1/accounts/{account_no}/balance"),
    ("get", "/api/v1/accounts/{account_no}/statement"),
    ("get", "/api/v1/accounts/{account_no}/statements"),
    ("get", "/api/v1/accounts/{account_no}/statements/{month}.pdf"),
    ("get", "/api/v1/accounts/{account_no}/settlement"),
    ("post", "/api/v1/accounts/{account_no}/status"),
    ("get", "/api/v1/accounts/{account_no}/credit"),
    ("post", "/api/v1/accounts/{account_no}/credit-limit"),
    ("get", "/api/v1/accounts/{account_no}/bills"),
    ("post", "/api/v1/accounts/{account_no}/repayments"),
    ("get", "/api/v1/bills/{bill_id}"),
    ("get", "/api/v1/bills/{bill_id}.pdf"),
    ("post", "/api/v1/postings"),
    ("get", "/api/v1/postings"),
    ("get", "/api/v1/postings/{serial_no}"),
    ("get", "/api/v1/postings/by-request/{source_system}/{request_no}"),
    ("post", "/api/v1/postings/by-rule"),
    ("post", "/api/v1/postings/batch"),
    ("get", "/api/v1/postings/{serial_no}/receipt"),
    ("get", "/api/v1/postings/{serial_no}/receipt/verify"),
    ("post", "/api/v1/postings/{serial_no}/reversal"),
    ("post", "/api/v1/postings/{serial_no}/refunds"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order_id}"),
    ("post", "/api/v1/orders/{order_id}/confirm"),
    ("post", "/api/v1/orders/{order_id}/refunds"),
    ("post", "/api/v1/orders/{order_id}/dispute"),
    ("post", "/api/v1/orders/{order_id}/resolve"),
    ("post", "/api/v1/agreements"),
    ("get", "/api/v1/agreements/{agreement_id}"),
    ("post", "/api/v1/agreements/{agreement_id}/suspend"),
    ("post", "/api/v1/agreements/{agreement_id}/resume"),
    ("post", "/api/v1/agreements/{agreement_id}/revoke"),
    ("post", "/api/v1/agreements/{agreement_id}/debits"),
    ("post", "/api/v1/holds"),
    ("get", "/api/v1/holds/{hold_id}"),
    ("post", "/api/v1/holds/{hold_id}/settle"),
    ("post", "/api/v1/holds/{hold_id}/release"),
    ("post", "/api/v1/withdrawals"),
    ("get", "/api/v1/withdrawals/{withdrawal_id}"),
    ("get", "/api/v1/reports/balance-sheet"),
    ("get", "/api/v1/events"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{endpoint_id}"),
    ("patch", "/api/v1/webhooks/{endpoint_id}"),
    ("delete", "/api/v1/webhooks/{endpoint_id}"),
    ("post", "/api/v1/webhooks/{endpoint_id}/rotate-secret"),
    ("get", "/api/v1/webhooks/{endpoint_id}/attempts"),
}


@pytest.fixture
def schema():
    r = Client().get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    return r.json()


def test_schema_lists_every_endpoint_with_its_errors(schema):
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert operations == OPERATIONS
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"ApiKey": []}], (method, path)
            assert {"400", "401", "403"} <= set(operation["responses"]), (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
            assert "500" in operation["responses"], (method, path)
            if method in ("post", "patch"):
                assert {"413", "415"} <= set(operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                if status >= "400":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == f"#/components/schemas/Error{status}"


def test_error_schemas_list_the_codes_of_their_status(schema):
    # 405 is answered in the same shape but belongs to no operation.
    for status in sorted(set(errors.ERROR_SERIALIZERS) - {405}):
        detail = schema["components"]["schemas"][f"Error{status}Detail"]
        assert set(detail["required"]) == {"code", "message", "fields"}
        code_schema = detail["properties"]["code"]
        enum_ref = code_schema.get("$ref") or code_schema["allOf"][0]["$ref"]
        enum = schema["components"]["schemas"][enum_ref.rsplit("/", 1)[1]]["enum"]
        assert enum == errors.codes_for(status)


def test_every_reference_resolves(schema):
    """Each $ref names a component that exists: a generated client breaks
    on one that does not, and a response under it is never validated."""

    def refs(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield where, value
                else:
                    yield from refs(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from refs(value, f"{where}/{i}")

    found = list(refs(schema, "#"))
    assert any(ref == "#/components/schemas/EntryOut" for _, ref in found)
    assert any(ref == "#/components/schemas/BalanceSheetRowOut" for _, ref in found)
    for where, ref in found:
        node = schema
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, f"{where}: {ref} does not resolve"
            node = node[part]


def _string_schemas(node):
    if isinstance(node, dict):
        if node.get("type") == "string":
            yield node
        for value in node.values():
            yield from _string_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _string_schemas(value)


def test_no_request_string_admits_nul(schema):
    """The server refuses NUL in every string (PostgreSQL text cannot hold
    it): each string a request may carry says so with an enum, a format or
    a pattern that has no room for it."""
    requests = [c for name, c in schema["components"]["schemas"].items() if name.endswith("Request")]
    parameters = [
        p["schema"] for item in schema["paths"].values() for op in item.values() for p in op.get("parameters", [])
    ]
    strings = [s for node in (*requests, *parameters) for s in _string_schemas(node)]
    assert strings
    for string in strings:
        if "enum" in string or "format" in string or "maxLength" in string and string["maxLength"] == 0:
            continue
        assert "pattern" in string, string
        assert not re.search(string["pattern"], "a\x00b"), string


AMOUNT_FIELDS = [
    ("LegInRequest", "amount", False),
    ("HoldInRequest", "amount", False),
    ("SettleInRequest", "amount", False),
    ("ReleaseInRequest", "amount", False),
    ("WithdrawalInRequest", "amount", False),
    ("AgreementDebitInRequest", "amount", False),
    ("AgreementInRequest", "max_per_debit", False),
    ("AccountInRequest", "credit_limit", True),
    ("CreditLimitInRequest", "credit_limit", True),
    ("RepaymentInRequest", "amount", False),
]


@pytest.mark.parametrize(("component", "name", "allow_zero"), AMOUNT_FIELDS)
def test_amount_pattern_is_the_server_rule(schema, component, name, allow_zero):
    """The published pattern takes exactly the strings the API's amount field
    takes, and every one of them is an amount the ledger's parser reads."""
    pattern = schema["components"]["schemas"][component]["properties"][name]["pattern"]
    field = AmountField(allow_zero=allow_zero)
    for text in AMOUNT_SAMPLES:
        matches = re.fullmatch(pattern, text) is not None
        try:
            field.run_validation(text)
            accepted = True
        except ValidationError:
            accepted = False
        assert matches == accepted, (text, matches, accepted)
        if matches:
            assert parse_amount(text) == Decimal(text)
            if not allow_zero:
                assert amount_and_places(text)[0] == Decimal(text)  # refused by the ledger: never
    assert (re.fullmatch(pattern, "0") is not None) == allow_zero
    assert (re.fullmatch(pattern, "0.00") is not None) == allow_zero
    assert re.fullmatch(pattern, "0.0001")


AMOUNT_SAMPLES = [
    "0",
    "00",
    "0.0",
    "0.00",
    "0.0000",
    "0.00000",
    "0.0001",
    "1",
    "01",
    "100.00",
    "100.",
    ".5",
    "1.23456",
    "9999999999999999",
    "9999999999999999.9999",
    "10000000000000000",
    "+1",
    "-1",
    "1e3",
    "1,000",
    " 1",
    "1 ",
    "1\n",
    "１",
    "NaN",
    "",
    "0000000000000001",
]


def _ledger_errors():
    for module in (
        accounts.kernel.errors,
        accounts.exceptions,
        postings.exceptions,
        postings.credit.exceptions,
        withdrawals.exceptions,
        reports.settlement.exceptions,
        events.webhooks.exceptions,
        errors,
    ):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, LedgerError) and cls.__module__ == module.__name__:
                yield cls


@pytest.mark.parametrize("cls", list(_ledger_errors()), ids=lambda c: c.__name__)
def test_every_ledger_error_has_a_documented_code(cls):
    assert cls.code in errors.ERROR_CODES, f"{cls.__name__}.code {cls.code!r} is not in config/api/errors.py"
    assert errors.ERROR_CODES[cls.code][0] == cls.http_status, cls


def test_docs_code_table_matches(settings):
    docs = (settings.BASE_DIR / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", docs, re.M))
    assert documented == {(code, str(status)) for code, (status, _) in errors.ERROR_CODES.items()}


def test_swagger_ui_is_served_from_our_own_static_files():
    r = Client().get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert "/api/schema/" in html
    for source in sources:
        assert finders.find(source.removeprefix("/static/")), source


def test_schema_and_docs_need_no_key():
    assert Client().get("/api/schema/").status_code == 200
    assert Client().get("/api/docs/").status_code == 200
