"""Coded refusals of the webhooks (config/api/errors.py lists the codes)."""

from __future__ import annotations

from accounts.kernel.errors import LedgerError


class WebhookUrlRefused(LedgerError):
    """Not https (where required), not a URL the ledger can call, or a host
    that resolves to an address that is not public (SSRF)."""

    code = "webhook_url_refused"
    http_status = 422
    default_message = "The ledger does not deliver to this URL."


class WebhookEndpointExists(LedgerError):
    code = "webhook_endpoint_exists"
    http_status = 409
    default_message = "The client has an endpoint with this URL already."


class WebhookEndpointLimit(LedgerError):
    code = "webhook_endpoint_limit"
    http_status = 422
    default_message = "The client has as many endpoints as it may have."


class WebhookEndpointNotFound(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such webhook endpoint."
