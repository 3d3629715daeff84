"""Refusals of the end of day."""

from __future__ import annotations

from accounts.kernel.errors import LedgerError, LedgerValidationError


class EodInProgress(LedgerError):
    code = "eod_running"
    http_status = 409
    default_message = "The end of day of this entity is already running."


class EodOutOfOrder(LedgerValidationError):
    code = "eod_out_of_order"
    default_message = "An earlier accounting day must finish its end of day first."
