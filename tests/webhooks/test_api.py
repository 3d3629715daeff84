"""The webhook endpoints through the API: a client registers, lists, reads,
changes, deletes its own endpoints, rotates a secret and reads the
attempts; another client's endpoint is not there for it; refusals are
coded."""

from __future__ import annotations

import pytest

from events.webhooks.models import Endpoint, EndpointChange
from tests.api.conftest import Caller, client_with_key, error_of

from .books import dispatch_until
from .receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def trade():
    client, key = client_with_key("trade", ["read", "post"])
    return Caller(key, client.source_system)


def register(caller: Caller, url: str, **body):
    return caller.post("webhooks", {"url": url, **body})


def test_register_list_read_change_delete(trade):
    r = register(trade, "http://127.0.0.1:9/a", event_types=["hold.placed", "posting.booked", "posting.booked"])
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["secret"].startswith("whsec_")
    assert created["event_types"] == ["posting.booked", "hold.placed"], "known types, once each, in the ledger's order"
    assert (created["active"], created["state"], created["consecutive_failures"]) == (True, "active", 0)
    endpoint_id = created["id"]

    listed = trade.get("webhooks").json()["endpoints"]
    assert [e["id"] for e in listed] == [endpoint_id]
    assert "secret" not in listed[0], "the secret is shown once"
    assert trade.get(f"webhooks/{endpoint_id}").json()["url"] == "http://127.0.0.1:9/a"

    r = trade.call("PATCH", f"/api/v1/webhooks/{endpoint_id}", {"active": False, "event_types": []})
    assert r.status_code == 200, r.content
    assert (r.json()["active"], r.json()["state"], r.json()["event_types"]) == (False, "off", [])

    r = trade.call("DELETE", f"/api/v1/webhooks/{endpoint_id}")
    assert r.status_code == 204
    error_of(trade.get(f"webhooks/{endpoint_id}"), 404, "not_found")
    assert trade.get("webhooks").json()["endpoints"] == []
    assert [c.kind for c in EndpointChange.objects.filter(endpoint_id=endpoint_id)] == [
        "registered",
        "updated",
        "deleted",
    ]
    assert EndpointChange.objects.filter(endpoint_id=endpoint_id).first().actor.startswith("api:trade:lk_")


def test_another_clients_endpoint_is_not_there(trade):
    endpoint_id = register(trade, "http://127.0.0.1:9/a").json()["id"]
    other_client, other_key = client_with_key("risk", ["read"])
    risk = Caller(other_key, "risk")
    error_of(risk.get(f"webhooks/{endpoint_id}"), 404, "not_found")
    error_of(risk.call("PATCH", f"/api/v1/webhooks/{endpoint_id}", {"active": False}), 404, "not_found")
    error_of(risk.call("DELETE", f"/api/v1/webhooks/{endpoint_id}"), 404, "not_found")
    error_of(risk.post(f"webhooks/{endpoint_id}/rotate-secret"), 404, "not_found")
    error_of(risk.get(f"webhooks/{endpoint_id}/attempts"), 404, "not_found")
    assert risk.get("webhooks").json()["endpoints"] == []
    assert Endpoint.objects.get(pk=endpoint_id).active


def test_refusals_are_coded(trade, settings):
    error = error_of(register(trade, "http://10.0.0.7/hook"), 422, "webhook_url_refused")
    assert error["fields"]["reason"] == "address"
    error_of(register(trade, "http://169.254.169.254/"), 422, "webhook_url_refused")
    settings.WEBHOOKS_REQUIRE_HTTPS = True
    error = error_of(register(trade, "http://127.0.0.1:9/x"), 422, "webhook_url_refused")
    assert error["fields"]["reason"] == "scheme"
    settings.WEBHOOKS_REQUIRE_HTTPS = False

    assert register(trade, "http://127.0.0.1:9/x").status_code == 201
    error_of(register(trade, "http://127.0.0.1:9/x"), 409, "webhook_endpoint_exists")
    settings.WEBHOOKS_MAX_ENDPOINTS_PER_CLIENT = 2
    assert register(trade, "http://127.0.0.1:9/y").status_code == 201
    error_of(register(trade, "http://127.0.0.1:9/z"), 422, "webhook_endpoint_limit")

    error = error_of(register(trade, "http://127.0.0.1:9/q", event_types=["posting.made"]), 400, "validation_error")
    assert "event_types[0]" in error["fields"]
    error_of(register(trade, "http://127.0.0.1:9/q", active="yes"), 400, "validation_error")
    endpoint_id = trade.get("webhooks").json()["endpoints"][0]["id"]
    error = error_of(
        trade.call("PATCH", f"/api/v1/webhooks/{endpoint_id}", {"url": "http://192.168.0.1/"}),
        422,
        "webhook_url_refused",
    )
    assert Endpoint.objects.get(pk=endpoint_id).url == "http://127.0.0.1:9/x", "nothing changed"


def test_a_key_without_read_may_not(trade):
    _, key = client_with_key("poster", ["post"])
    error_of(Caller(key).post("webhooks", {"url": "http://127.0.0.1:9/a"}), 403, "forbidden")
    error_of(Caller(key).get("webhooks"), 403, "forbidden")
    error_of(Caller(None).get("webhooks"), 401, "unauthenticated")


def test_rotation_answers_the_new_secret_and_the_old_ones_end(trade):
    created = register(trade, "http://127.0.0.1:9/a").json()
    r = trade.post(f"webhooks/{created['id']}/rotate-secret")
    assert r.status_code == 200, r.content
    rotated = r.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    endpoint = Endpoint.objects.get(pk=created["id"])
    assert (endpoint.secret, endpoint.previous_secret) == (rotated["secret"], created["secret"])


@pytest.mark.django_db(transaction=True)
def test_the_attempts_newest_first(trade, ledger, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.05]
    with Receiver(fail_first=1) as receiver:
        endpoint_id = register(trade, receiver.url).json()["id"]
        ledger.recharge(ledger.cash(), "1.00", request_no="att-1")
        dispatch_until(lambda: receiver.statuses() == [500, 200])
    page = trade.get(f"webhooks/{endpoint_id}/attempts", {"limit": 1}).json()
    (newest,) = page["attempts"]
    assert (newest["number"], newest["status_code"], newest["ok"], newest["outcome"]) == (2, 200, True, "delivered")
    assert newest["delivery_status"] == "delivered" and newest["event_type"] == "posting.booked"
    older = trade.get(f"webhooks/{endpoint_id}/attempts", {"before": page["next_before"]}).json()
    assert [(a["number"], a["status_code"], a["outcome"]) for a in older["attempts"]] == [(1, 500, "retry")]
    assert older["attempts"][0]["response_excerpt"].startswith("receiver says no")
    assert older["next_before"] is None
    error_of(trade.get(f"webhooks/{endpoint_id}/attempts", {"since": 1}), 400, "validation_error")
