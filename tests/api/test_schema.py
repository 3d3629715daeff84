"""The OpenAPI schema and Swagger UI: served without a key, from the
project's own static files (the machines are offline), and the error codes
table in step with the ledger's errors."""

from __future__ import annotations

import inspect
import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

import accounts.exceptions
import accounts.kernel.errors
import postings.exceptions
import withdrawals.exceptions
from accounts.kernel.errors import LedgerError
from config.api import errors

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("post", "/api/v1/members"),
    ("post", "/api/v1/accounts"),
    ("get", "/api/v1/accounts/{account_no}"),
    ("get", "/api/v1/accounts/{account_no}/entries"),
    ("post", "/api/v1/accounts/{account_no}/status"),
    ("post", "/api/v1/postings"),
    ("get", "/api/v1/postings/{serial_no}"),
    ("post", "/api/v1/postings/by-rule"),
    ("post", "/api/v1/postings/batch"),
    ("post", "/api/v1/postings/{serial_no}/reversal"),
    ("post", "/api/v1/holds"),
    ("get", "/api/v1/holds/{hold_id}"),
    ("post", "/api/v1/holds/{hold_id}/settle"),
    ("post", "/api/v1/holds/{hold_id}/release"),
    ("post", "/api/v1/withdrawals"),
    ("get", "/api/v1/withdrawals/{withdrawal_id}"),
    ("get", "/api/v1/reports/balance-sheet"),
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
            if method == "post":
                assert "415" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if status >= "400":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == f"#/components/schemas/Error{status}"


def test_error_schemas_list_the_codes_of_their_status(schema):
    # 405, 413 and 500 are answered in the same shape but belong to no operation.
    for status in sorted(set(errors.ERROR_SERIALIZERS) - {405, 413, 500}):
        detail = schema["components"]["schemas"][f"Error{status}Detail"]
        assert set(detail["required"]) == {"code", "message", "fields"}
        code_schema = detail["properties"]["code"]
        enum_ref = code_schema.get("$ref") or code_schema["allOf"][0]["$ref"]
        enum = schema["components"]["schemas"][enum_ref.rsplit("/", 1)[1]]["enum"]
        assert enum == errors.codes_for(status)


def _ledger_errors():
    for module in (accounts.kernel.errors, accounts.exceptions, postings.exceptions, withdrawals.exceptions, errors):
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
