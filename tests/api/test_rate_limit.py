"""The rate limit per API client (config/api/throttling.py): a client over
its calls a minute is answered 429 ``rate_limited`` with Retry-After and
nothing changes; other clients go on; the count is shared by every process
through the cache (Redis here, as in production)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from django.test import Client

from config.api import throttling
from config.api.models import ApiCallLog, ApiClient
from postings.models import Posting
from tests.postings.test_concurrency import run_parallel

from .conftest import Caller, client_with_key, error_of, transfer_body


@pytest.fixture(autouse=True)
def own_cache(settings):
    """A cache of this test's own: no count carries over from another test."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"rate-{uuid.uuid4()}"}
    }


@pytest.fixture(autouse=True)
def mid_minute(monkeypatch):
    """The clock held in the middle of a minute: a test's calls never straddle
    two windows (a test that needs the clock to move sets its own)."""
    monkeypatch.setattr(throttling, "_clock", lambda: 1_800_000_000 + 30.0)


def caller(name: str, rate_limit: int | None) -> Caller:
    _, key = client_with_key(name, ["read", "post"], rate_limit_per_minute=rate_limit)
    return Caller(key, name)


@pytest.mark.django_db
def test_a_client_over_its_limit_is_refused_and_nothing_is_posted(book):
    busy, other = caller("busy", 3), caller("other", 3)
    for _ in range(3):
        assert busy.get(f"accounts/{book.alice.account_no}").status_code == 200
    postings = Posting.objects.count()

    r = busy.post("postings", transfer_body(book.alice, book.bob, "5", request_no="over-1"))

    error = error_of(r, 429, "rate_limited")
    assert 1 <= int(r["Retry-After"]) <= 61 and error["fields"] == {"retry_after": r["Retry-After"]}
    assert "nothing was changed" in error["message"]
    assert Posting.objects.count() == postings and book.ledger.balance(book.alice) == book.alice.balance
    assert other.get(f"accounts/{book.alice.account_no}").status_code == 200  # its own count
    logged = ApiCallLog.objects.filter(client__name="busy").order_by("id").values_list("status_code", "outcome")
    assert list(logged) == [(200, "ok"), (200, "ok"), (200, "ok"), (429, "rate_limited")]


@pytest.mark.django_db
def test_the_default_limit_applies_to_a_client_without_its_own_and_0_is_none(book, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    default, unlimited = caller("default", None), caller("unlimited", 0)
    path = f"accounts/{book.alice.account_no}"
    assert [default.get(path).status_code for _ in range(3)] == [200, 200, 429]
    assert {unlimited.get(path).status_code for _ in range(10)} == {200}
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    free = caller("free", None)
    assert {free.get(path).status_code for _ in range(10)} == {200}


@pytest.mark.django_db
def test_the_count_slides_no_double_limit_across_a_minutes_end(book, monkeypatch):
    """Two fixed counters, the last minute's weighted by how much of it is
    still within the last 60 s: a client cannot spend its limit at the end
    of one minute and again at the start of the next; refused calls do not
    count, so a client that keeps calling still gets its limit through."""
    minute = 1_800_000_000  # a minute's start
    clock = [minute + 58.5]
    monkeypatch.setattr(throttling, "_clock", lambda: clock[0])
    busy = caller("busy", 2)
    path = f"accounts/{book.alice.account_no}"
    assert [busy.get(path).status_code for _ in range(2)] == [200, 200]
    refused = [busy.get(path) for _ in range(10)]
    assert {r.status_code for r in refused} == {429}
    # 2 calls in the last 60 s until 30 s into the next minute: then one more fits.
    assert refused[0]["Retry-After"] == "32"

    clock[0] = minute + 60.5  # the next minute has begun: the last one still weighs 2 x 59.5/60
    r = busy.get(path)
    assert r.status_code == 429 and r["Retry-After"] == "30"

    clock[0] = minute + 90.5  # half of the last minute left in the window: 2 x 0.49 + 1 <= 2
    assert [busy.get(path).status_code for _ in range(2)] == [200, 429]

    clock[0] = minute + 180.5  # two minutes on, after a minute without calls: the full limit again
    assert [busy.get(path).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.django_db
def test_unauthenticated_calls_and_calls_without_the_scope_do_not_count(book):
    reader = caller("reader", 2)
    ApiClient.objects.filter(name="reader").update(scopes=["read"])
    for _ in range(5):
        error_of(reader.post("postings", transfer_body(book.alice, book.bob, request_no="no-scope")), 403, "forbidden")
        error_of(Caller("lk_nothing.nothing").get("accounts/1"), 401, "unauthenticated")
    assert [reader.get(f"accounts/{book.alice.account_no}").status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_for_concurrent_callers_sharing_redis(ledger, settings, redis_url):
    """8 threads, each its own HTTP client, database connection and Redis
    connection, 10 calls each at once against a limit of 50: exactly 50 pass."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url.rsplit("/", 1)[0] + "/14",
            "KEY_PREFIX": f"t-{uuid.uuid4()}",
        }
    }
    from django.core.cache import caches

    assert type(caches["default"]).__name__ == "RedisCache"
    account = ledger.cash()
    busy = caller("busy", 50)

    def work(_):
        http = Client()
        return [
            http.get(f"/api/v1/accounts/{account.account_no}", HTTP_AUTHORIZATION=f"Api-Key {busy.key}").status_code
            for _ in range(10)
        ]

    per_thread = run_parallel(8, work)
    assert not [r for r in per_thread if isinstance(r, BaseException)]
    statuses = [status for thread_statuses in per_thread for status in thread_statuses]
    assert Counter(statuses) == {200: 50, 429: 30}


@pytest.mark.django_db
def test_admin_sets_a_clients_limit_and_lists_it(admin_client, book, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 60_000
    busy = caller("busy", None)
    client = ApiClient.objects.get(name="busy")
    assert "60,000 (default)" in admin_client.get("/admin/api/apiclient/").content.decode()
    r = admin_client.post(
        f"/admin/api/apiclient/{client.pk}/change/",
        {
            "name": "busy",
            "scopes": ["read", "post"],
            "active": "on",
            "rate_limit_per_minute": "1",
            "description": "",
            "keys-TOTAL_FORMS": "0",
            "keys-INITIAL_FORMS": "0",
            "keys-MIN_NUM_FORMS": "0",
            "keys-MAX_NUM_FORMS": "1000",
        },
    )
    assert r.status_code == 302, r.content[:2000]
    path = f"accounts/{book.alice.account_no}"
    assert [busy.get(path).status_code for _ in range(2)] == [200, 429]
    listed = admin_client.get("/admin/api/apiclient/").content.decode()
    assert '<td class="field-rate_limit">1</td>' in listed


@pytest.mark.django_db
def test_an_outage_of_the_cache_lets_calls_through(book, settings, caplog):
    """The limit protects the ledger; a cache that cannot be reached must not
    stop it. Nothing listens on this port: every count fails."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6390/0"}
    }
    busy = caller("busy", 1)
    assert [busy.get(f"accounts/{book.alice.account_no}").status_code for _ in range(3)] == [200, 200, 200]
    r = busy.post("postings", transfer_body(book.alice, book.bob, "5", request_no="outage-1"))
    assert r.status_code == 201 and Posting.objects.filter(request_no="outage-1").exists()
    assert "API rate limit not counted" in caplog.text
