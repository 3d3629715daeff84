"""The webhook endpoints of the calling client (issue 23, section 2): register,
list, read, change, delete, rotate the secret, read the attempts.

A client sees and changes only its own endpoints (another's is 404). The
scope is ``read``: an endpoint receives the events ``GET /events`` would
show the same key. Deliveries are signed per the Standard Webhooks
specification; docs/events/webhooks.md says how to verify them.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from events.models import EVENT_TYPES
from events.webhooks import selectors, services
from events.webhooks.addresses import MAX_URL_LENGTH

from .errors import error_responses
from .serializers import StrictCharField
from .views import ANY_CALL_ERRORS, BODY_ERRORS, READ, LedgerView, _path_id

TAGS = ["webhooks"]
ENDPOINT_ID = _path_id("endpoint_id", "The endpoint's id.")
STATES = ["active", "failing", "paused", "off", "disabled"]


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: "yes" or 1 is refused, not read as true."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


def _url_field(**kwargs) -> StrictCharField:
    return StrictCharField(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        help_text="Where deliveries are POSTed: https (http only where the ledger allows it), a host that resolves "
        "to public addresses only (422 webhook_url_refused otherwise), no user name or password, no #fragment.",
        **kwargs,
    )


def _event_types_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        max_length=64,
        help_text="The event types to deliver; empty or left out: every type. Payload schemas: docs/events/.",
        **kwargs,
    )


class WebhookEndpointIn(serializers.Serializer):
    url = _url_field()
    event_types = _event_types_field(required=False, default=list)
    description = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    active = StrictBooleanField(required=False, default=True)


class WebhookEndpointPatchIn(serializers.Serializer):
    url = _url_field(required=False)
    event_types = _event_types_field(required=False)
    description = StrictCharField(required=False, allow_blank=True, max_length=200)
    active = StrictBooleanField(
        required=False, help_text="false: nothing is sent. true: sent again, also after a disabling for failures."
    )


class WebhookEndpointOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES))
    description = serializers.CharField()
    active = serializers.BooleanField(help_text="false: switched off by the client, or disabled for failures.")
    state = serializers.ChoiceField(
        choices=STATES,
        help_text="active; failing (its last attempt failed; retried on the schedule); paused (by the ledger's "
        "staff); off (switched off by the client); disabled (after too many failures in a row).",
    )
    paused_at = serializers.DateTimeField(allow_null=True)
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField()
    consecutive_failures = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then deliveries carry a second signature, under the secret before the last."
    )
    cursor = serializers.IntegerField(help_text="The last event sequence number given to this endpoint.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookEndpointListOut(serializers.Serializer):
    endpoints = WebhookEndpointOut(many=True)


class WebhookSecretOut(WebhookEndpointOut):
    secret = serializers.CharField(
        help_text="whsec_<base64>: the key to verify signatures with (standardwebhooks.Webhook(secret).verify). "
        "Shown this once; rotate it to get a new one."
    )


class AttemptsQuery(serializers.Serializer):
    before = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Attempts older than this attempt id."
    )
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=200)


class AttemptOut(serializers.Serializer):
    id = serializers.IntegerField()
    delivery_id = serializers.IntegerField()
    event_id = serializers.IntegerField(source="delivery.event_id", help_text="webhook-id is evt_<event_id>.")
    seq = serializers.IntegerField(source="delivery.seq")
    event_type = serializers.CharField(source="delivery.event_type")
    number = serializers.IntegerField(help_text="1, 2, 3 ... within the delivery.")
    at = serializers.DateTimeField()
    ok = serializers.BooleanField(help_text="Answered 2xx.")
    status_code = serializers.IntegerField(allow_null=True, help_text="None: no answer (refused, timed out, ...).")
    latency_ms = serializers.IntegerField()
    error = serializers.CharField()
    response_excerpt = serializers.CharField(help_text="The first 1 KB of the answer's body.")
    outcome = serializers.ChoiceField(
        choices=["delivered", "retry", "dead"],
        help_text="What became of the delivery: delivered, retried, dead-lettered.",
    )
    delivery_status = serializers.CharField(source="delivery.status", help_text="pending, delivered or dead, now.")


class AttemptPageOut(serializers.Serializer):
    attempts = AttemptOut(many=True)
    next_before = serializers.IntegerField(allow_null=True, help_text="Pass as `before` for older attempts.")


def _out(endpoint, serializer=WebhookEndpointOut, **extra) -> dict:
    return serializer({**{f: getattr(endpoint, f) for f in WebhookEndpointOut().fields}, **extra}).data


class WebhookEndpointsView(LedgerView):
    scopes = {"GET": (READ,), "POST": (READ,)}

    @extend_schema(
        operation_id="webhook_endpoint_create",
        tags=TAGS,
        request=WebhookEndpointIn,
        responses={
            201: OpenApiResponse(WebhookSecretOut, description="The endpoint, with its secret (shown this once)."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 409, 422),
        },
        summary="Register a webhook endpoint (推送地址)",
        description="Events numbered from now on, of the chosen types, are POSTed to the URL, signed per the "
        "Standard Webhooks specification, in sequence order, retried with backoff for 24 hours. The same URL twice "
        "for one client is 409 webhook_endpoint_exists; more endpoints than allowed 422 webhook_endpoint_limit.",
    )
    def post(self, request):
        data = self.validated(WebhookEndpointIn)
        endpoint, secret = services.endpoint_register(client=self.client, actor=self.actor, **data)
        self.outcome = "created"
        return Response(_out(endpoint, WebhookSecretOut, secret=secret), status=201)

    @extend_schema(
        operation_id="webhook_endpoints_list",
        tags=TAGS,
        responses={200: WebhookEndpointListOut, **error_responses(*ANY_CALL_ERRORS)},
        summary="The client's webhook endpoints",
    )
    def get(self, request):
        return Response({"endpoints": [_out(e) for e in selectors.endpoints_of(client=self.client)]})


class WebhookEndpointView(LedgerView):
    scopes = {"GET": (READ,), "PATCH": (READ,), "DELETE": (READ,)}

    def endpoint_of(self, endpoint_id: int):
        return selectors.endpoint_of(client=self.client, endpoint_id=endpoint_id)

    @extend_schema(
        operation_id="webhook_endpoint_get",
        tags=TAGS,
        parameters=[ENDPOINT_ID],
        responses={200: WebhookEndpointOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A webhook endpoint and how its deliveries fare",
    )
    def get(self, request, endpoint_id: int):
        return Response(_out(self.endpoint_of(endpoint_id)))

    @extend_schema(
        operation_id="webhook_endpoint_update",
        tags=TAGS,
        parameters=[ENDPOINT_ID],
        request=WebhookEndpointPatchIn,
        responses={200: WebhookEndpointOut, **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404, 409, 422)},
        summary="Change a webhook endpoint's URL, event types, description, or switch it on or off",
        description="`active: true` also switches on an endpoint the ledger disabled after failures; it is "
        "sent what it missed, from where it stopped (within the events' retention).",
    )
    def patch(self, request, endpoint_id: int):
        data = self.validated(WebhookEndpointPatchIn)
        endpoint = services.endpoint_update(endpoint=self.endpoint_of(endpoint_id), actor=self.actor, **data)
        return Response(_out(endpoint))

    @extend_schema(
        operation_id="webhook_endpoint_delete",
        tags=TAGS,
        parameters=[ENDPOINT_ID],
        responses={
            204: OpenApiResponse(description="Deleted: nothing more is sent."),
            **error_responses(*ANY_CALL_ERRORS, 404),
        },
        summary="Delete a webhook endpoint",
    )
    def delete(self, request, endpoint_id: int):
        services.endpoint_delete(endpoint=self.endpoint_of(endpoint_id), actor=self.actor)
        self.outcome = "deleted"
        return Response(status=204)


class WebhookSecretRotateView(LedgerView):
    scopes = {"POST": (READ,)}

    @extend_schema(
        operation_id="webhook_endpoint_rotate_secret",
        tags=TAGS,
        parameters=[ENDPOINT_ID],
        request=None,
        responses={
            200: OpenApiResponse(WebhookSecretOut, description="The endpoint with its new secret (shown this once)."),
            **error_responses(*ANY_CALL_ERRORS, *BODY_ERRORS, 404),
        },
        summary="Rotate a webhook endpoint's secret",
        description="A new secret signs from now on; the one before keeps signing too (a second signature in "
        "webhook-signature) until `previous_secret_expires_at` (24 hours by default), so the receiver can switch "
        "without refusing a delivery. A rotation within that time ends the older secret at once.",
    )
    def post(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_of(client=self.client, endpoint_id=endpoint_id)
        endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=self.actor)
        return Response(_out(endpoint, WebhookSecretOut, secret=secret))


class WebhookAttemptsView(LedgerView):
    scopes = {"GET": (READ,)}
    query_parameters = frozenset(AttemptsQuery().fields)

    @extend_schema(
        operation_id="webhook_endpoint_attempts",
        tags=TAGS,
        parameters=[ENDPOINT_ID, AttemptsQuery],
        responses={200: AttemptPageOut, **error_responses(*ANY_CALL_ERRORS, 404)},
        summary="A webhook endpoint's delivery attempts, newest first",
        description="Each attempt: when, the HTTP status (none when nothing answered), the latency, the first 1 KB "
        "of the answer, and what became of the delivery (delivered, retried, dead-lettered).",
    )
    def get(self, request, endpoint_id: int):
        endpoint = selectors.endpoint_of(client=self.client, endpoint_id=endpoint_id)
        query = self.query(AttemptsQuery)
        attempts = selectors.attempts_of(endpoint=endpoint, before=query.get("before"), limit=query["limit"])
        return Response(
            {
                "attempts": AttemptOut(attempts, many=True).data,
                "next_before": attempts[-1].id if len(attempts) == query["limit"] else None,
            }
        )
