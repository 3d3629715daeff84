"""Which URLs the ledger calls (SSRF): https only in production settings;
no private, loopback, link-local or reserved address unless its network is
allowed in settings (the tests allow 127.0.0.0/8); checked at registration
and again before each delivery."""

from __future__ import annotations

import pytest

from events.webhooks.addresses import url_check
from events.webhooks.exceptions import WebhookUrlRefused
from events.webhooks.models import Attempt, Delivery
from tests.events.scripted import number_everything

from .books import dispatch_until, endpoint_for
from .receiver import Receiver


def refused(url: str) -> str:
    with pytest.raises(WebhookUrlRefused) as caught:
        url_check(url)
    return caught.value.fields["reason"]


@pytest.fixture
def production(settings):
    settings.WEBHOOKS_REQUIRE_HTTPS = True
    settings.WEBHOOKS_ALLOWED_NETWORKS = []
    return settings


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/hook",  # private
        "https://172.16.0.9/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # link-local: a cloud's metadata service
        "https://127.0.0.1:8443/hook",  # loopback
        "https://[::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",  # IPv4-mapped private
        "https://0.0.0.0/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://localhost/hook",  # resolves to loopback
        "https://224.0.0.1/hook",  # multicast
    ],
)
def test_addresses_that_are_not_public_are_refused(production, url):
    assert refused(url) == "address"


def test_what_else_is_refused(production):
    assert refused("http://93.184.216.34/hook") == "scheme"
    assert refused("ftp://93.184.216.34/hook") == "scheme"
    assert refused("https://user:pw@93.184.216.34/hook") == "credentials"
    assert refused("https://no-such-host.invalid/hook") == "unresolvable"
    assert refused("https://93.184.216.34/hook#x") == "malformed"
    assert refused("https:///hook") == "malformed"
    assert refused("https://93.184.216.34:99999/") == "malformed"
    assert refused("https://93.184.216.34/ hook") == "malformed"


def test_a_public_address_passes_and_is_the_one_called(production):
    target = url_check("https://93.184.216.34:8443/hook?x=1")
    assert (target.address, target.host_header) == ("93.184.216.34", "93.184.216.34:8443")
    assert target.url_to_address() == "https://93.184.216.34:8443/hook?x=1"


def test_only_the_networks_allowed_in_settings_are_let_through(settings):
    settings.WEBHOOKS_REQUIRE_HTTPS = False
    settings.WEBHOOKS_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # as the test settings
    assert url_check("http://127.0.0.1:9/hook").address == "127.0.0.1"
    assert url_check("http://localhost:9/hook").address == "127.0.0.1"
    assert refused("http://[::1]:9/hook") == "address", "::1 is not in 127.0.0.0/8"
    assert refused("http://10.0.0.8/hook") == "address"
    assert refused("http://169.254.169.254/") == "address"
    settings.WEBHOOKS_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    assert url_check("http://10.20.3.4/hook").address == "10.20.3.4"
    assert refused("http://10.21.3.4/hook") == "address"


@pytest.mark.django_db(transaction=True)
def test_checked_again_before_each_delivery(ledger, settings):
    """Registered while loopback was allowed; no longer allowed when it is
    due: the attempt is recorded as not sent, and the receiver sees nothing."""
    settings.WEBHOOKS_RETRY_SCHEDULE = [60]
    with Receiver() as receiver:
        endpoint, _ = endpoint_for(receiver.url)
        ledger.recharge(ledger.cash(), "1.00", request_no="ssrf-1")
        number_everything()
        settings.WEBHOOKS_ALLOWED_NETWORKS = []
        dispatch_until(lambda: Attempt.objects.filter(endpoint=endpoint).exists())
    assert receiver.received == []
    (attempt,) = Attempt.objects.filter(endpoint=endpoint)
    assert (attempt.ok, attempt.status_code, attempt.outcome) == (False, None, "retry")
    assert attempt.error.startswith("not sent: The host 127.0.0.1 resolves to 127.0.0.1, which is not a public")
    assert Delivery.objects.get(endpoint=endpoint).status == "pending"
