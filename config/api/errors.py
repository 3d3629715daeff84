"""One error shape for the whole API, with stable codes.

Every error answers ``{"error": {"code": ..., "message": ..., "fields": {...}}}``.
``code`` is what a caller keys on and never changes meaning; ``message`` is
for people; ``fields`` names what the error is about: for a
``validation_error`` each offending field (``legs[0].amount``) with what is
wrong with it, for a ledger error the values involved (``account_no``).

The ledger's domain errors (``accounts.kernel.errors.LedgerError`` and its
subclasses in every app) already carry a code and an HTTP status; they are
answered as they are. DRF's and Django's own errors are mapped below.
``ERROR_CODES`` is the complete list, also published in the OpenAPI schema
(one enum per status) and in docs/api.md; a test keeps it in step with the
LedgerError subclasses.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from accounts.kernel.errors import LedgerError

log = logging.getLogger(__name__)

# code -> (HTTP status, when)
ERROR_CODES: dict[str, tuple[int, str]] = {
    "validation_error": (400, "The request is malformed or a field is invalid; `fields` says which and why."),
    "invalid_amount": (400, "An amount is zero, too large, or has more decimals than its currency allows."),
    "invalid_card_number": (400, "The bank card number is not 12-19 digits or fails its check digit."),
    "invalid_metadata": (
        400,
        "metadata is not a flat object of at most 50 string values, a key is not 1-64 of A-Z a-z 0-9 _ . -, a value "
        "is over 500 characters, or keys and values are over 4,096 bytes; `fields` names the key.",
    ),
    "same_account": (400, "One account is on both a debit and a credit leg, or a hold is settled to its own account."),
    "unauthenticated": (401, "No API key, an unknown key, a revoked key, or the client is deactivated."),
    "forbidden": (403, "The key's client lacks the scope, or the object belongs to another source system."),
    "segregation_of_duties": (403, "Maker-checker: the same person may not approve twice (staff flows)."),
    "not_found": (404, "The URL, or an account, posting, hold, member, entity or account type it names."),
    "method_not_allowed": (405, "The endpoint does not take this HTTP method."),
    "idempotency_conflict": (409, "The request number was already used for a different request."),
    "customer_mismatch": (409, "The ID document is registered to a customer with another name or kind."),
    "request_too_large": (413, "The body is larger than the ledger reads (DATA_UPLOAD_MAX_MEMORY_SIZE); split it."),
    "unsupported_media_type": (415, "Send the body as application/json."),
    "rate_limited": (429, "The client is over its calls a minute; nothing was changed. Retry after Retry-After."),
    "insufficient_funds": (422, "The available balance (or credit line) is not enough."),
    "account_blocked": (422, "The account's status forbids this direction (止付/止收/冻结)."),
    "account_closed": (422, "The account is closed (销户)."),
    "buffered_debit_refused": (422, "A leg on a buffered (hot) account would need a balance check: freeze first."),
    "currency_mismatch": (422, "An account's currency is not the posting's currency."),
    "cross_entity": (422, "The accounts belong to different accounting entities."),
    "unbalanced_posting": (422, "Debits and credits are not equal, or a side is missing."),
    "hold_exceeded": (422, "The amount is more than the hold's remaining amount."),
    "hold_not_active": (422, "The hold is settled or released (an expired one: `hold_expired`)."),
    "hold_expired": (
        422,
        "The hold is past its expiry; the call released it (status expired) and changed nothing else.",
    ),
    "illegal_transition": (422, "That status change is not allowed from the current status."),
    "unresolved_bank_answer": (
        409,
        "The bank gave contradictory answers on a payout; finance must resolve them first.",
    ),
    "payout_outcome_unknown": (409, "The bank has not answered the last payout instruction; query it first."),
    "posting_mode_changed": (
        409,
        "An account was switched between buffered and real-time while the posting was written; nothing was "
        "posted. Send it again with the same request number.",
    ),
    "day_closed": (422, "The accounting day asked for has been cut (日切); post on the open day."),
    "already_reversed": (422, "The posting has been reversed already."),
    "closed_period_needs_correction": (
        409,
        "The posting is dated in a closed period: a correction of it needs approval (a red-ink correction).",
    ),
    "reversal_not_allowed": (422, "A reversal cannot itself be reversed, nor a partly refunded posting."),
    "refund_exceeds_original": (422, "The refund is more than what is left to refund of the posting (per leg)."),
    "refund_not_allowed": (422, "The posting is a refund or a reversal, or has been reversed: nothing to refund."),
    "correction_not_allowed": (
        409,
        "The posting cannot be corrected in red ink (refunded, reversed, already corrected, part of a guarantee order, "
        "or itself undoing a posting); staff pages only.",
    ),
    "refund_window_passed": (
        422,
        "The payment is older than its business type's refund window; finance staff refund it with a reason "
        "and a second person's approval.",
    ),
    "order_disputed": (409, "The guarantee order is disputed: nothing is refunded or confirmed until it is resolved."),
    "order_closed": (422, "The guarantee order is confirmed or refunded in full; nothing is left in its escrow."),
    "refund_exceeds_escrow": (422, "The refund is more than the guarantee order still holds in escrow."),
    "escrow_not_configured": (
        422,
        "The entity has no single escrow (ESCROW), fee income or coupon account in the order's currency.",
    ),
    "no_agreement": (
        422,
        "No active agreement covers the agreement debit: none of this payer and payee, suspended, revoked or "
        "expired, the day outside its validity, another purpose; or an agreement debit asked of the posting "
        "endpoints instead of `POST /agreements/{agreement_id}/debits`.",
    ),
    "agreement_limit_exceeded": (
        422,
        "The agreement debit is more than the agreement's max_per_debit or than what is left of its max_per_period.",
    ),
    "no_settlement_term": (
        404,
        "The account is not a merchant account settled T+N (`GET /accounts/{account_no}/settlement`).",
    ),
    "no_credit_product": (
        404,
        "The account is not a credit line billed under a credit product (`/accounts/{account_no}/credit`, bills, "
        "repayments).",
    ),
    "channel_settlement_not_set_up": (
        422,
        "The channel has no settlement setup (bank and fee accounts); staff pages only.",
    ),
    "nothing_to_settle": (422, "The channel has no unsettled entries up to the cut-off; staff pages only."),
    "cut_off_in_future": (400, "A channel settlement's cut-off has not come yet; staff pages only."),
    "reserve_balance_exists": (
        409,
        "A reserve-fund bank account's balance for that day is already recorded; staff pages only.",
    ),
    "reserve_file_invalid": (400, "A reserve-fund balance file is refused whole; staff pages only."),
    "rule_not_configured": (422, "No active posting rule for the business type, or its accounts are ambiguous."),
    "not_configured": (422, "Withdrawals are not configured for the entity and currency (no fee account)."),
    "chart_locked": (422, "The account type is in use; its code, category and sign rule are fixed."),
    "amount_out_of_range": (422, "A balance would exceed the largest amount the ledger stores."),
    "webhook_url_refused": (
        422,
        "The webhook URL is not https, cannot be read, or its host does not resolve or resolves to an address that "
        "is not public (private, loopback, link-local, reserved); `fields.reason` says which.",
    ),
    "webhook_endpoint_exists": (409, "The client has a webhook endpoint with this URL already."),
    "webhook_endpoint_limit": (422, "The client has as many webhook endpoints as it may have; delete one first."),
    "ledger_error": (422, "Any other refusal of the ledger."),
    "internal_error": (
        500,
        "A fault of the ledger; whether the call took effect is not known. Retry with the same request number: "
        "a request that was saved answers as saved, one that was not is made.",
    ),
}


class NotFound(LedgerError):
    """A member, entity or account type named by a request does not exist."""

    code = "not_found"
    http_status = 404
    default_message = "Not found."


def codes_for(status_code: int) -> list[str]:
    return [code for code, (s, _) in ERROR_CODES.items() if s == status_code]


# ------------------------------------------------------------- handler ----

_DRF_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (exceptions.ParseError, "validation_error"),
    (exceptions.ValidationError, "validation_error"),
    (exceptions.NotAuthenticated, "unauthenticated"),
    (exceptions.AuthenticationFailed, "unauthenticated"),
    (exceptions.PermissionDenied, "forbidden"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.Throttled, "rate_limited"),
]


def flatten_errors(detail, prefix: str = "") -> dict[str, str]:
    """DRF's nested error detail as ``{"legs[0].amount": "message"}``."""
    out: dict[str, str] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "non_field_errors":
                path = prefix or "non_field_errors"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_errors(value, path))
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            if detail:
                out[prefix or "non_field_errors"] = " ".join(str(item) for item in detail)
        else:
            for i, item in enumerate(detail):
                if item:
                    out.update(flatten_errors(item, f"{prefix}[{i}]"))
    else:
        out[prefix or "non_field_errors"] = str(detail)
    return out


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": {k: str(v) for k, v in (fields or {}).items()}}}


def _leaf_codes(codes) -> list[str]:
    if isinstance(codes, dict):
        return [c for value in codes.values() for c in _leaf_codes(value)]
    if isinstance(codes, list):
        return [c for value in codes for c in _leaf_codes(value)]
    return [str(codes)]


# A field may refuse with one of these codes (a ValidationError raised with
# code=...): when it is the request's only refusal, the answer has that code,
# as the ledger's own error would (MetadataField: invalid_metadata).
_FIELD_CODES = frozenset({"invalid_metadata"})


def _api_exception(exc: exceptions.APIException) -> tuple[int, dict]:
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), None) or str(exc.default_code)
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        first = next(iter(fields.items()), None)
        codes = set(_leaf_codes(exc.get_codes()))
        if len(codes) == 1 and codes <= _FIELD_CODES and first:
            return 400, error_body(codes.pop(), f"{first[0]}: {first[1]}", fields)
        message = "The request is not valid" + (f": {first[0]}: {first[1]}" if first else ".")
        return 400, error_body(code, message, fields)
    if isinstance(exc, exceptions.ParseError):
        return 400, error_body(code, f"The body is not valid JSON: {exc.detail}")
    if isinstance(exc, exceptions.NotAuthenticated):
        return 401, error_body(code, "No API key: send 'Authorization: Api-Key <key>'.")
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        return 429, error_body(
            code,
            f"Too many calls from this API client in the last minute; nothing was changed. Retry in {wait} s.",
            {"retry_after": wait},
        )
    return exc.status_code, error_body(code, str(exc.detail))


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error in the one shape, never an HTML page."""
    from rest_framework.views import set_rollback  # not at import: the auth classes load before DRF's views

    headers = {}
    if isinstance(exc, LedgerError):
        status_code, body = exc.http_status, {"error": exc.as_dict()}
    elif isinstance(exc, Http404):
        status_code, body = 404, error_body("not_found", "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        status_code, body = 403, error_body("forbidden", "You may not do this.")
    elif isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        status_code, body = 400, error_body("validation_error", "The request is not valid.", flatten_errors(fields))
    elif isinstance(exc, exceptions.APIException):
        status_code, body = _api_exception(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # DRF rounds it up to whole seconds
    elif isinstance(exc, RequestDataTooBig):
        # Raised while the body is read, before anything is looked at: not a
        # fault to retry, a request to split (a batch of fewer postings).
        status_code, body = (
            413,
            error_body(
                "request_too_large",
                f"The body is larger than the ledger reads ({settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} "
                "bytes); nothing was changed. Send fewer postings per batch.",
            ),
        )
    elif isinstance(exc, DataError) and "numeric field overflow" in str(exc):
        # A balance past numeric(20,4): the service's transaction rolled back.
        status_code, body = (
            422,
            error_body(
                "amount_out_of_range",
                "A balance would exceed the largest amount the ledger stores; nothing was posted.",
            ),
        )
    else:
        log.exception("API call failed: %s", context.get("request") and context["request"].path)
        status_code, body = (
            500,
            error_body(
                "internal_error",
                # Not "nothing was changed": a fault may come after a commit (every
                # service owns its transaction), and a caller told nothing happened
                # might ask again under a new request number and pay twice.
                "The ledger failed to answer; this call may or may not have taken effect. Retry with the same "
                "request number: a request that was saved answers with what was saved, one that was not is made now.",
            ),
        )
    set_rollback()
    return Response(body, status=status_code, headers=headers)


# -------------------------------------------------------------- schema ----


def _code_field(status_code: int) -> type[serializers.Field]:
    codes = codes_for(status_code)

    @extend_schema_field({"type": "string", "enum": codes})
    class CodeField(serializers.CharField):
        pass

    return CodeField


class _ErrorDetail(serializers.Serializer):
    message = serializers.CharField(help_text="For people; may change wording.")
    fields = serializers.DictField(
        child=serializers.CharField(), help_text="Field path -> what is wrong, or the values involved."
    )


def _error_serializer(status_code: int) -> type[serializers.Serializer]:
    detail = type(
        f"Error{status_code}Detail",
        (_ErrorDetail,),
        {"code": _code_field(status_code)(help_text="Stable error code."), "__module__": __name__},
    )
    return type(f"Error{status_code}", (serializers.Serializer,), {"error": detail(), "__module__": __name__})


ERROR_SERIALIZERS = {s: _error_serializer(s) for s in sorted({s for s, _ in ERROR_CODES.values()})}
_DESCRIPTIONS = {
    400: "The request is not valid (validation_error): its shape or a field's format, or a rule across fields "
    "that the request's schema describes (then `fields` names the fields involved); or an amount or card number "
    "is not (invalid_amount, invalid_card_number), or one account is on both sides (same_account).",
    401: "No valid API key: send `Authorization: Api-Key <key>` (unauthenticated).",
    403: "The key's client lacks the scope this endpoint needs, or the object belongs to another source system "
    "(forbidden).",
    404: "Not found (not_found).",
    405: "Method not allowed (method_not_allowed).",
    409: "The request number was used before for a different request (idempotency_conflict), or an ID document "
    "belongs to a customer with another name or kind (customer_mismatch).",
    413: "The body is too large (request_too_large); nothing was read or changed.",
    415: "Unsupported media type: send application/json (unsupported_media_type).",
    429: "The API client is over its rate limit (rate_limited); nothing was changed. Retry after `Retry-After` "
    "seconds.",
    422: "The ledger refused the request; the code says why.",
    500: "A fault of the ledger (internal_error); the call may have taken effect: retry with the same request number.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """``responses=`` entries for extend_schema: each status with its error shape."""
    return {s: OpenApiResponse(ERROR_SERIALIZERS[s], description=_DESCRIPTIONS[s]) for s in statuses}
