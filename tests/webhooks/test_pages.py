"""The webhook staff pages, per role: Finance staff, Auditors and Ledger
admins read the endpoints (failing ones on a tab of their own) and an
endpoint's attempts; only a Ledger admin pauses, resumes and redelivers.
Every page and action is tried by every role."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from events.webhooks.models import Endpoint, EndpointChange
from tests.reports.reporting import staff_user

from .books import endpoint_for, ensure_webhook_roles, failed_attempt

pytestmark = pytest.mark.django_db

ROLES = ["Finance staff", "Auditor", "Ledger admin", "Reviewer", "Cashier", None]
READS = {"Finance staff", "Auditor", "Ledger admin"}
ACTS = {"Ledger admin"}


def client_of(role: str | None) -> Client:
    ensure_webhook_roles()
    client = Client()
    client.force_login(staff_user(f"u-{(role or 'none').replace(' ', '-').lower()}", role))
    return client


@pytest.fixture
def endpoints():
    failing, _ = endpoint_for("http://127.0.0.1:9/failing")
    failed_attempt(failing, seq=7, status=502)
    healthy, _ = endpoint_for("http://127.0.0.1:9/healthy", name="risk")
    return failing, healthy


@pytest.mark.parametrize("role", ROLES)
def test_who_reads_the_pages(role, endpoints):
    failing, _ = endpoints
    client = client_of(role)
    for url in (reverse("webhooks:endpoints"), reverse("webhooks:endpoint", args=[failing.pk])):
        r = client.get(url)
        assert r.status_code == (200 if role in READS else 403), url
    if role in READS:
        page = client.get(reverse("webhooks:endpoint", args=[failing.pk])).content.decode()
        assert "upstream down" in page and "502" in page
        assert ('id="actions"' in page) == (role in ACTS), "the actions are offered to who may take them"


def test_the_failing_tab_lists_the_failing_endpoints(endpoints):
    failing, healthy = endpoints
    client = client_of("Auditor")
    page = client.get(reverse("webhooks:endpoints"), {"state": "failing"}).content.decode()
    assert f'id="w-{failing.pk}"' in page and f'id="w-{healthy.pk}"' not in page
    assert "Failing 推送失败 (1)" in page
    page = client.get(reverse("webhooks:endpoints"), {"client": "risk"}).content.decode()
    assert f'id="w-{healthy.pk}"' in page and f'id="w-{failing.pk}"' not in page
    assert client.get(reverse("webhooks:endpoints"), {"state": "bogus"}).status_code == 200  # an invalid filter: all


@pytest.mark.parametrize("role", ROLES)
def test_who_pauses_resumes_and_redelivers(role, endpoints):
    failing, _ = endpoints
    client = client_of(role)
    r = client.post(reverse("webhooks:endpoint_pause", args=[failing.pk]), {"reason": "receiver migrating"})
    if role not in ACTS:
        assert r.status_code == 403
        r = client.post(reverse("webhooks:endpoint_redeliver", args=[failing.pk]), {"from_seq": 1, "to_seq": 5})
        assert r.status_code == 403
        assert Endpoint.objects.get(pk=failing.pk).paused_at is None
        assert not EndpointChange.objects.filter(endpoint=failing).exclude(kind="registered").exists()
        return
    assert r.status_code == 302
    endpoint = Endpoint.objects.get(pk=failing.pk)
    assert (endpoint.state, endpoint.paused_by) == ("paused", "u-ledger-admin")
    page = client.get(reverse("webhooks:endpoint", args=[failing.pk])).content.decode()
    assert "deliveries wait until it is resumed" in page and ">Resume</button>" in page

    client.post(reverse("webhooks:endpoint_resume", args=[failing.pk]))
    assert Endpoint.objects.get(pk=failing.pk).state == "failing"

    r = client.post(reverse("webhooks:endpoint_redeliver", args=[failing.pk]), {"from_seq": 5, "to_seq": 1})
    assert "The range ends at or after where it starts" in client.get(r["Location"]).content.decode()
    client.post(reverse("webhooks:endpoint_redeliver", args=[failing.pk]), {"from_seq": 1, "to_seq": 5})
    kinds = list(EndpointChange.objects.filter(endpoint=failing).values_list("kind", "actor"))
    assert kinds == [
        ("registered", "api:trade"),
        ("paused", "u-ledger-admin"),
        ("resumed", "u-ledger-admin"),
        ("redelivered", "u-ledger-admin"),
    ]


def test_the_services_refuse_who_may_not_whatever_the_page(endpoints):
    from accounts.kernel.errors import NotAllowed
    from events.webhooks.services import endpoint_pause, endpoint_redeliver

    ensure_webhook_roles()
    auditor = staff_user("aud", "Auditor")
    with pytest.raises(NotAllowed):
        endpoint_pause(endpoint=endpoints[0], acting_user=auditor)
    with pytest.raises(NotAllowed):
        endpoint_redeliver(endpoint=endpoints[0], acting_user=auditor, from_seq=1, to_seq=2)
