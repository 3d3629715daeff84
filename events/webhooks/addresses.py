"""Which URLs the ledger calls (SSRF).

A webhook URL is typed by a caller, and the ledger's workers sit inside the
company's network: a URL naming 10.0.0.5, 169.254.169.254 (a cloud's
metadata service) or localhost would let a caller make the ledger call its
neighbours. So: https only (``WEBHOOKS_REQUIRE_HTTPS``), no credentials in
the URL, and every address the host resolves to must be public, unless it
lies in one of ``WEBHOOKS_ALLOWED_NETWORKS``. Checked at registration and
again before every delivery, and the delivery connects to the very address
checked (``Target.address``), so a DNS answer changed in between (DNS
rebinding) reaches nothing it should not.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from .exceptions import WebhookUrlRefused

MAX_URL_LENGTH = 2000
# getaddrinfo has no timeout of its own; an API call must not hang on DNS.
DNS_TIMEOUT_SECONDS = 3.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written (lower case), for Host and TLS
    port: int
    address: str  # the vetted IP the request goes to

    def url_to_address(self) -> str:
        """The URL with its host replaced by the vetted address."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        return parts._replace(netloc=f"{host}:{self.port}").geturl()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _refuse(url: str, reason: str, message: str) -> WebhookUrlRefused:
    return WebhookUrlRefused(message, url=url[:200], reason=reason)


def _allowed_networks():
    return [ipaddress.ip_network(n, strict=False) for n in settings.WEBHOOKS_ALLOWED_NETWORKS]


def address_allowed(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if any(address in network for network in _allowed_networks()):
        return True
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    answer: dict = {}

    def lookup():
        try:
            answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            answer["error"] = exc

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(DNS_TIMEOUT_SECONDS)
    if "infos" not in answer:
        return []
    return list(dict.fromkeys(info[4][0] for info in answer["infos"]))


def url_check(url: str) -> Target:
    """The URL's target, or ``WebhookUrlRefused`` saying why not (``reason``:
    malformed, scheme, credentials, unresolvable, address)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise _refuse(
            str(url), "malformed", f"A webhook URL is one absolute URL of at most {MAX_URL_LENGTH} characters."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise _refuse(url, "malformed", f"The URL cannot be read: {exc}.") from None
    schemes = ("https",) if settings.WEBHOOKS_REQUIRE_HTTPS else ("https", "http")
    if parts.scheme not in schemes:
        raise _refuse(url, "scheme", f"Webhook URLs must be {' or '.join(schemes)}.")
    if parts.username is not None or parts.password is not None:
        raise _refuse(
            url, "credentials", "A webhook URL carries no user name or password; the signature authenticates."
        )
    if not host or parts.fragment:
        raise _refuse(url, "malformed", "A webhook URL names a host, and has no #fragment.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal else _resolve(host, port)
    if not addresses:
        raise _refuse(url, "unresolvable", f"The host {host} does not resolve.")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not address_allowed(address):
            raise _refuse(
                url,
                "address",
                f"The host {host} resolves to {address}, which is not a public address; the ledger does not call "
                "private, loopback, link-local or reserved addresses.",
            )
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0].split("%", 1)[0])
