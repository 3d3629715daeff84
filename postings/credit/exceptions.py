"""The credit product's refusals (codes in config/api/errors.py and docs/api.md)."""

from __future__ import annotations

from accounts.kernel.errors import LedgerError


class NoCreditProduct(LedgerError):
    code = "no_credit_product"
    http_status = 404
    default_message = "The account is not a credit line billed under a credit product."


class UnknownBill(LedgerError):
    code = "not_found"
    http_status = 404
    default_message = "No such bill."
