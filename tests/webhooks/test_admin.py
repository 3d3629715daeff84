"""Webhook endpoints in the admin: a Ledger admin registers one for an API
client and is shown its secret once; a private address is refused by the
form; an Auditor reads, and may not add or change."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from standardwebhooks import Webhook

from events.webhooks.models import Endpoint, EndpointChange
from tests.api.conftest import client_with_key
from tests.reports.reporting import staff_user

from .books import ensure_webhook_roles

pytestmark = pytest.mark.django_db

ADD = "/admin/webhooks/endpoint/add/"


def logged_in(role: str) -> Client:
    ensure_webhook_roles()
    client = Client()
    client.force_login(staff_user(f"a-{role.replace(' ', '-').lower()}", role))
    return client


def test_a_ledger_admin_registers_an_endpoint_and_sees_its_secret_once():
    api_client, _ = client_with_key("trade", ["read"])
    admin = logged_in("Ledger admin")
    r = admin.post(
        ADD,
        {"client": api_client.pk, "url": "http://127.0.0.1:9/hook", "event_types": ["posting.booked"], "active": "on"},
    )
    assert r.status_code == 200, r.content[:300]
    secret = re.search(r'<code class="webhook-secret">(whsec_[^<]+)</code>', r.content.decode()).group(1)
    endpoint = Endpoint.objects.get()
    assert (endpoint.client, endpoint.event_types, endpoint.secret) == (api_client, ["posting.booked"], secret)
    Webhook(secret)  # a key the verifier reads
    assert EndpointChange.objects.get(endpoint=endpoint).actor == "staff:a-ledger-admin"
    change_page = admin.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    assert secret not in change_page


def test_the_form_refuses_a_private_address():
    api_client, _ = client_with_key("trade", ["read"])
    r = logged_in("Ledger admin").post(ADD, {"client": api_client.pk, "url": "http://10.0.0.5/hook", "active": "on"})
    assert r.status_code == 200
    assert "which is not a public address" in r.content.decode()
    assert not Endpoint.objects.exists()


def test_an_auditor_reads_but_does_not_add():
    auditor = logged_in("Auditor")
    assert auditor.get("/admin/webhooks/endpoint/").status_code == 200
    assert auditor.get(ADD).status_code == 403
