"""API keys and scopes: 401 without a valid key, 403 without the scope;
keys stored hashed, shown once, revocable; every call logged; keys issued
by the command and in the admin."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection

from config.api.models import ApiCallLog, ApiClient, ApiKey
from config.api.services import api_key_revoke

from .conftest import Caller, client_with_key, error_of, transfer_body

pytestmark = pytest.mark.django_db

# (method, path, body, the scopes that allow it)
ENDPOINTS = [
    ("POST", "members", {}, {"admin"}),
    ("POST", "accounts", {}, {"admin"}),
    ("GET", "accounts/123", None, {"read"}),
    ("GET", "accounts/123/entries", None, {"read"}),
    ("GET", "accounts/123/balance", None, {"read"}),
    ("GET", "accounts/123/statement", None, {"read"}),
    ("GET", "accounts/123/statements", None, {"read"}),
    ("GET", "accounts/123/statements/2026-11.pdf", None, {"read"}),
    ("POST", "accounts/123/status", {}, {"admin"}),
    ("POST", "postings", {}, {"post"}),
    ("GET", "postings/1", None, {"read"}),
    ("POST", "postings/by-rule", {}, {"post"}),
    ("POST", "postings/batch", {}, {"post"}),
    ("GET", "postings/1/receipt", None, {"read"}),
    ("GET", "postings/1/receipt/verify", None, {"read"}),
    ("POST", "postings/1/reversal", {}, {"post"}),
    ("POST", "holds", {}, {"hold"}),
    ("GET", "holds/1", None, {"read", "hold"}),
    ("POST", "holds/1/settle", {}, {"hold"}),
    ("POST", "holds/1/release", {}, {"hold"}),
    ("POST", "withdrawals", {}, {"withdraw"}),
    ("GET", "withdrawals/1", None, {"read", "withdraw"}),
    ("GET", "reports/balance-sheet", None, {"read"}),
]
SCOPES = ["read", "post", "hold", "withdraw", "admin"]


def call(caller: Caller, method: str, path: str, body, key=None):
    return caller.call(method, f"/api/v1/{path}", body, key=key)


@pytest.mark.parametrize("method, path, body, allowed", ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_every_endpoint_wants_a_key_and_its_scope(method, path, body, allowed):
    anonymous = Caller(None)
    error = error_of(call(anonymous, method, path, body), 401, "unauthenticated")
    assert "Api-Key" in error["message"]
    assert call(anonymous, method, path, body)["WWW-Authenticate"].startswith("Api-Key")
    for scope in SCOPES:
        _, key = client_with_key(f"c-{scope}", [scope])
        response = call(Caller(key), method, path, body)
        if scope in allowed:
            assert response.status_code not in (401, 403), (scope, response.content)
        else:
            error_of(response, 403, "forbidden")
        ApiClient.objects.filter(name=f"c-{scope}").update(active=False)


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key lk_00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # well formed, unknown
        "Api-Key not-a-key",
        "Api-Key ",
        "Bearer lk_00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_wrong_keys_are_401(trade, book, header):
    r = trade.http.get(f"/api/v1/accounts/{book.alice.account_no}", HTTP_AUTHORIZATION=header)
    error_of(r, 401, "unauthenticated")


def test_a_key_with_a_wrong_secret_is_401(trade, book):
    prefix, _ = trade.key.split(".")
    error_of(trade.get(f"accounts/{book.alice.account_no}", key=f"{prefix}.{'B' * 43}"), 401, "unauthenticated")


def test_a_revoked_key_is_401_at_once_and_others_go_on(trade, book):
    client = ApiClient.objects.get(name="trade")
    second = Caller(client_with_key_for(client), "trade")
    assert trade.get(f"accounts/{book.alice.account_no}").status_code == 200
    api_key_revoke(key=ApiKey.objects.get(prefix=trade.key[3:11]), actor="test")
    error = error_of(trade.get(f"accounts/{book.alice.account_no}"), 401, "unauthenticated")
    assert "revoked" in error["message"]
    assert second.get(f"accounts/{book.alice.account_no}").status_code == 200


def client_with_key_for(client: ApiClient) -> str:
    from config.api.services import api_key_issue

    return api_key_issue(client=client, actor="test")[1]


def test_a_deactivated_client_is_401(trade, book):
    ApiClient.objects.filter(name="trade").update(active=False)
    error = error_of(trade.get(f"accounts/{book.alice.account_no}"), 401, "unauthenticated")
    assert "deactivated" in error["message"]


def test_keys_are_stored_as_a_hash_only(trade):
    key = ApiKey.objects.get(client__name="trade")
    assert key.key_hash == hashlib.sha256(trade.key.encode()).hexdigest()
    assert trade.key.startswith(f"lk_{key.prefix}.")
    secret = trade.key.split(".", 1)[1]
    with connection.cursor() as cursor:  # nowhere in the API's tables
        for table in ("api_apiclient", "api_apikey", "api_apicalllog"):
            cursor.execute(f"SELECT * FROM {table}")
            assert secret not in repr(cursor.fetchall())


def test_every_call_is_logged(trade, book):
    ok = trade.post("postings", transfer_body(book.alice, book.bob, "5", request_no="log-1"))
    trade.post("postings", transfer_body(book.alice, book.bob, "5", request_no="log-1"))
    trade.post("postings", transfer_body(book.alice, book.bob, "6", request_no="log-1"))
    trade.get("accounts/000")
    Caller(None).get("reports/balance-sheet")
    Caller(None).get("postings/1/nothing")
    rows = list(
        ApiCallLog.objects.order_by("id").values_list(
            "client__name", "method", "endpoint", "request_no", "status_code", "outcome"
        )
    )
    assert rows == [
        ("trade", "POST", "/api/v1/postings", "log-1", 201, "created"),
        ("trade", "POST", "/api/v1/postings", "log-1", 200, "replayed"),
        ("trade", "POST", "/api/v1/postings", "log-1", 409, "idempotency_conflict"),
        ("trade", "GET", "/api/v1/accounts/{account_no}", "", 404, "not_found"),
        (None, "GET", "/api/v1/reports/balance-sheet", "", 401, "unauthenticated"),
        (None, "GET", "(unknown)", "", 404, "not_found"),
    ]
    first = ApiCallLog.objects.order_by("id").first()
    assert first.key_prefix == trade.key[3:11] and first.latency_ms >= 0 and first.path == "/api/v1/postings"
    assert ok.status_code == 201


def test_unknown_urls_and_methods_answer_in_the_error_shape(trade):
    error_of(trade.get("no-such-thing"), 404, "not_found")
    error_of(trade.get("no-such-thing", {"page": "1"}), 404, "not_found")
    error_of(trade.http.get("/api/v2/postings"), 404, "not_found")
    error_of(trade.http.get("/api/v1/postings/"), 404, "not_found")  # no trailing slashes
    error_of(trade.http.get("/api/v1/holds/abc"), 404, "not_found")
    error_of(trade.http.get("/api/v1/postings/1%0A"), 404, "not_found")
    error = error_of(trade.call("DELETE", "/api/v1/postings"), 405, "method_not_allowed")
    assert error["message"]
    r = trade.call("PUT", "/api/v1/accounts/123")
    error_of(r, 405, "method_not_allowed")
    assert r["Allow"] == "GET, HEAD"
    error_of(Caller(None).call("PATCH", "/api/v1/holds"), 405, "method_not_allowed")  # key or no key
    error_of(trade.call("OPTIONS", "/api/v1/holds"), 405, "method_not_allowed")


def test_the_answer_is_json_whatever_accept_says(trade, book):
    r = trade.get(f"accounts/{book.alice.account_no}", HTTP_ACCEPT="text/html")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"


# ------------------------------------------------------------- command ----


def test_create_api_client_prints_a_working_key(book):
    out, err = StringIO(), StringIO()
    call_command("create_api_client", "Trade System", "--scopes", "read,post", stdout=out, stderr=err)
    key = out.getvalue().strip()
    client = ApiClient.objects.get(name="Trade System")
    assert (client.source_system, client.scopes) == ("trade-system", ["read", "post"])
    assert "shown once" in err.getvalue()
    assert Caller(key).get(f"accounts/{book.alice.account_no}").status_code == 200
    out2 = StringIO()
    call_command("create_api_client", "Trade System", "--new-key", stdout=out2, stderr=StringIO())
    assert out2.getvalue().strip() != key
    assert client.keys.count() == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["x1", "--scopes", "read,root"], "Unknown scope"),
        (["x2", "--scopes", ""], "at least one scope"),
        (["x3", "--scopes", "read", "--source-system", "ledger"], "ledger's own"),
        (["x4", "--scopes", "read", "--source-system", "Bad Code"], "source-system code"),
        (["nobody", "--new-key"], "No API client"),
    ],
)
def test_create_api_client_refusals(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_client", *args, stdout=StringIO(), stderr=StringIO())


def test_one_source_system_one_client():
    call_command("create_api_client", "trade", "--scopes", "read", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="belongs to another client"):
        call_command(
            "create_api_client",
            "trade2",
            "--scopes",
            "read",
            "--source-system",
            "trade",
            stdout=StringIO(),
            stderr=StringIO(),
        )


# --------------------------------------------------------------- admin ----


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_adds_a_client_and_shows_its_key_once(admin_client, book):
    r = admin_client.post(
        "/admin/api/apiclient/add/",
        {
            "name": "Risk",
            "source_system": "risk",
            "scopes": ["read"],
            "active": "on",
            "description": "",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
            "keys-MIN_NUM_FORMS": "0",
            "keys-MAX_NUM_FORMS": "1000",
        },
    )
    assert r.status_code == 200, r.content[:2000]
    html = r.content.decode()
    key = html.split('<code class="api-key">')[1].split("</code>")[0]
    assert Caller(key).get(f"accounts/{book.alice.account_no}").status_code == 200
    client = ApiClient.objects.get(name="Risk")
    assert admin_client.get(f"/admin/api/apiclient/{client.pk}/change/").content.decode().count(key) == 0

    r = admin_client.post("/admin/api/apiclient/", {"action": "issue_key", "_selected_action": [client.pk]})
    second = r.content.decode().split('<code class="api-key">')[1].split("</code>")[0]
    assert second != key and client.keys.count() == 2

    first_key = client.keys.get(prefix=key[3:11])
    admin_client.post("/admin/api/apikey/", {"action": "revoke", "_selected_action": [first_key.pk]})
    error_of(Caller(key).get(f"accounts/{book.alice.account_no}"), 401, "unauthenticated")
    assert Caller(second).get(f"accounts/{book.alice.account_no}").status_code == 200


def test_admin_refuses_bad_clients(admin_client):
    r = admin_client.post(
        "/admin/api/apiclient/add/",
        {
            "name": "Own",
            "source_system": "withdrawals",
            "scopes": ["read"],
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
            "keys-MIN_NUM_FORMS": "0",
            "keys-MAX_NUM_FORMS": "1000",
        },
    )
    assert r.status_code == 200 and "ledger&#x27;s own source system" in r.content.decode()
    assert not ApiClient.objects.exists()


def test_admin_call_log_is_read_only(admin_client, trade, book):
    trade.get(f"accounts/{book.alice.account_no}")
    assert admin_client.get("/admin/api/apicalllog/").status_code == 200
    row = ApiCallLog.objects.get()
    assert admin_client.post(f"/admin/api/apicalllog/{row.pk}/delete/").status_code == 403


@pytest.mark.parametrize("length", [129, 10_000, 30_000])
def test_an_over_long_key_is_refused_in_the_api_shape_before_any_lookup(length, django_assert_num_queries):
    # Shaped like a key (its prefix matches a real one), so only the length can refuse it.
    _, key = client_with_key("long", ["read"])
    raw = key + "x" * (length - len(key))
    with django_assert_num_queries(1):  # the call log's row; no key lookup
        response = Caller(raw).get("accounts/123")
    error = error_of(response, 401, "unauthenticated")
    assert f"{length:,} characters" in error["message"]
    assert response["WWW-Authenticate"].startswith("Api-Key")
