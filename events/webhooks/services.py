"""Writes of the webhooks: endpoints (register, update, delete, rotate the
secret, pause, resume), the fan-out of events to deliveries, the delivery
itself, and staff redelivery.

Ordering: an endpoint's deliveries are sent one at a time, in event
sequence order; a failing one is retried, on its schedule, before any later
one is sent (so an account's, a hold's, every aggregate's events reach the
receiver in the order they happened). A dead-lettered delivery no longer
holds the line. One worker at a time works an endpoint: a session advisory
lock, which takes no transaction id (a transaction open over an HTTP call
would hold the event sequencer back, events/sql/events.sql).

Signatures (Standard Webhooks): ``webhook-id`` is ``evt_<event id>``, the
same on every attempt and redelivery (a receiver recognises a duplicate by
it); ``webhook-timestamp`` is the attempt's time; ``webhook-signature``
holds ``v1,<base64 HMAC-SHA256>`` under the current secret and, during a
rotation's overlap, a second one under the previous secret.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.kernel.errors import LedgerValidationError
from accounts.kernel.events import event_record
from accounts.kernel.permissions import require_permission
from events.models import EVENT_TYPES, Event
from events.selectors import last_seq
from events.services import event_message, events_sequence

from .addresses import url_check
from .exceptions import WebhookEndpointExists, WebhookEndpointLimit, WebhookUrlRefused
from .models import Attempt, Delivery, DeliveryStatus, Endpoint, EndpointChange

log = logging.getLogger(__name__)

PERM_OPERATE = "webhooks.operate_endpoint"
EXCERPT_BYTES = 1024
USER_AGENT = "ledger-core-webhooks/1"
_LOCK_NAMESPACE = 0x57484B53  # "WHKS"
# Events about an endpoint go to its owner only.
OWNER_ONLY_PREFIX = "webhook."


# ------------------------------------------------------------ endpoints ----


def secret_new() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def clean_event_types(event_types: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(event_types or []))
    unknown = [t for t in chosen if t not in EVENT_TYPES]
    if unknown:
        raise LedgerValidationError(
            f"Unknown event type {', '.join(unknown)}; the types are {', '.join(EVENT_TYPES)}.",
            event_types=",".join(unknown),
        )
    return [t for t in EVENT_TYPES if t in chosen]


def _change(endpoint: Endpoint, kind: str, actor: str, **detail) -> None:
    EndpointChange.objects.create(endpoint=endpoint, kind=kind, actor=actor[:150], detail=detail)


def endpoint_register(
    *,
    client,
    url: str,
    event_types: Iterable[str] | None = None,
    description: str = "",
    active: bool = True,
    actor: str,
) -> tuple[Endpoint, str]:
    """A new endpoint of ``client``, given the events numbered from now on.
    Returns it and its secret (shown to the caller once)."""
    url_check(url)
    types = clean_event_types(event_types)
    secret = secret_new()
    with transaction.atomic():
        # The client's row, locked: two registrations at once count each other.
        type(client).objects.select_for_update(no_key=True).filter(pk=client.pk).first()
        live = Endpoint.objects.filter(client=client, deleted_at__isnull=True)
        if live.filter(url=url).exists():
            raise WebhookEndpointExists(url=url[:200])
        if live.count() >= settings.WEBHOOKS_MAX_ENDPOINTS_PER_CLIENT:
            raise WebhookEndpointLimit(
                f"Client {client.source_system} has {settings.WEBHOOKS_MAX_ENDPOINTS_PER_CLIENT} endpoints, the most "
                "it may have; delete one first.",
                limit=settings.WEBHOOKS_MAX_ENDPOINTS_PER_CLIENT,
            )
        try:
            with transaction.atomic():
                endpoint = Endpoint.objects.create(
                    client=client,
                    url=url,
                    event_types=types,
                    description=description[:200],
                    active=active,
                    secret=secret,
                    cursor=last_seq(),
                    created_by=actor[:150],
                )
        except IntegrityError:
            raise WebhookEndpointExists(url=url[:200]) from None
        _change(endpoint, "registered", actor, url=url, event_types=types, active=active)
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: Endpoint,
    actor: str,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> Endpoint:
    """Change what the owner may change. ``active=True`` also ends a
    disabling for failures: the endpoint is tried again from where it was."""
    if url is not None and url != endpoint.url:
        url_check(url)
    types = clean_event_types(event_types) if event_types is not None else None
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update(no_key=True).get(pk=endpoint.pk)
        changed = {}
        if url is not None and url != endpoint.url:
            if Endpoint.objects.filter(client_id=endpoint.client_id, url=url, deleted_at__isnull=True).exists():
                raise WebhookEndpointExists(url=url[:200])
            changed["url"], endpoint.url = url, url
        if types is not None and types != endpoint.event_types:
            changed["event_types"], endpoint.event_types = types, types
        if description is not None and description != endpoint.description:
            changed["description"], endpoint.description = description[:200], description[:200]
        if active is not None and (active != endpoint.active or (active and endpoint.disabled_at)):
            changed["active"] = active
            endpoint.active = active
            if active:
                _clear_failures(endpoint)
        if changed:
            endpoint.save()
            _change(endpoint, "updated", actor, **changed)
    return endpoint


def _clear_failures(endpoint: Endpoint) -> None:
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""
    endpoint.consecutive_failures = 0
    endpoint.failing_since = None


def endpoint_delete(*, endpoint: Endpoint, actor: str) -> None:
    """Deleted for the client (its history stays): nothing more is sent."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update(no_key=True).get(pk=endpoint.pk)
        if endpoint.deleted_at:
            return
        endpoint.deleted_at = timezone.now()
        endpoint.active = False
        endpoint.save(update_fields=["deleted_at", "active", "updated_at"])
        _change(endpoint, "deleted", actor)


def endpoint_rotate_secret(*, endpoint: Endpoint, actor: str, now: datetime | None = None) -> tuple[Endpoint, str]:
    """A new secret; the one it replaces keeps signing (a second signature)
    for ``WEBHOOKS_SECRET_OVERLAP_SECONDS``, so the receiver can switch
    without missing a delivery. A rotation during an overlap ends the
    older secret at once: two secrets at most."""
    now = now or timezone.now()
    secret = secret_new()
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update(no_key=True).get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + timedelta(seconds=settings.WEBHOOKS_SECRET_OVERLAP_SECONDS)
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        _change(endpoint, "secret_rotated", actor, previous_valid_until=endpoint.previous_secret_expires_at.isoformat())
    return endpoint, secret


def signing_secrets(endpoint: Endpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        keys.append(endpoint.previous_secret)
    return keys


def endpoint_pause(*, endpoint: Endpoint, acting_user, reason: str = "") -> Endpoint:
    """Staff stop sending to the endpoint; deliveries are still made, and
    wait."""
    require_permission(acting_user, PERM_OPERATE, doing="pause a webhook endpoint")
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update(no_key=True).get(pk=endpoint.pk)
        if not endpoint.paused_at:
            endpoint.paused_at = timezone.now()
            endpoint.paused_by = acting_user.get_username()
            endpoint.save(update_fields=["paused_at", "paused_by", "updated_at"])
            _change(endpoint, "paused", acting_user.get_username(), reason=reason)
    return endpoint


def endpoint_resume(*, endpoint: Endpoint, acting_user, reason: str = "") -> Endpoint:
    """Sending again: ends a pause, and a disabling for failures. An
    endpoint its owner switched off stays off (the owner's choice)."""
    require_permission(acting_user, PERM_OPERATE, doing="resume a webhook endpoint")
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update(no_key=True).get(pk=endpoint.pk)
        was = endpoint.state
        endpoint.paused_at = None
        endpoint.paused_by = ""
        if endpoint.disabled_at:
            endpoint.active = True
            _clear_failures(endpoint)
        endpoint.save()
        _change(endpoint, "resumed", acting_user.get_username(), reason=reason, was=was)
    return endpoint


def endpoint_redeliver(*, endpoint: Endpoint, acting_user, from_seq: int, to_seq: int) -> int:
    """Send the events numbered ``from_seq`` to ``to_seq`` (of the endpoint's
    types) again, each with a fresh retry schedule, whatever became of
    them before; events never delivered to it (before it was registered,
    while it was off) are sent too. Events archived by the retention are
    gone. Returns how many deliveries were queued."""
    require_permission(acting_user, PERM_OPERATE, doing="redeliver webhooks")
    if from_seq < 1 or to_seq < from_seq:
        raise LedgerValidationError("The range is from one sequence number up to another, not below it.")
    if to_seq - from_seq + 1 > settings.WEBHOOKS_REDELIVER_MAX:
        raise LedgerValidationError(
            f"At most {settings.WEBHOOKS_REDELIVER_MAX:,} sequence numbers at a time.", to_seq=to_seq
        )
    now = timezone.now()
    actor = acting_user.get_username()
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update(no_key=True).get(pk=endpoint.pk)
        events = list(_events_for(endpoint).filter(seq__gte=from_seq, seq__lte=to_seq).order_by("seq"))
        Delivery.objects.bulk_create(
            [_delivery(endpoint, e, now) for e in events],
            ignore_conflicts=True,
        )
        queued = Delivery.objects.filter(endpoint=endpoint, event_id__in=[e.id for e in events]).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            tries=0,
            delivered_at=None,
            dead_at=None,
            redelivered_at=now,
            redelivered_by=actor[:150],
        )
        _change(endpoint, "redelivered", actor, from_seq=from_seq, to_seq=to_seq, deliveries=queued)
    return queued


# -------------------------------------------------------------- fan-out ----


def _events_for(endpoint: Endpoint):
    events = Event.objects.filter(seq__isnull=False)
    if endpoint.event_types:
        events = events.filter(type__in=endpoint.event_types)
    return events.exclude(
        Q(type__startswith=OWNER_ONLY_PREFIX) & ~Q(payload__source_system=endpoint.client.source_system)
    )


def _delivery(endpoint: Endpoint, event: Event, now: datetime) -> Delivery:
    return Delivery(endpoint=endpoint, event=event, seq=event.seq, event_type=event.type, next_attempt_at=now)


def webhooks_fan_out(*, batch: int = 1000) -> int:
    """For each endpoint switched on (paused ones too: their deliveries
    wait), a delivery of every event numbered after its cursor, of its
    types; the cursor moves to the last event looked at. An endpoint
    switched off gets nothing meanwhile and catches up from its cursor when
    switched on again (within the events' retention). Returns how many
    deliveries were made."""
    events_sequence(rounds=1)
    made = 0
    upto = last_seq()
    ids = Endpoint.objects.filter(active=True, deleted_at__isnull=True, cursor__lt=upto).values_list("id", flat=True)
    for endpoint_id in ids:
        now = timezone.now()
        with transaction.atomic():
            endpoint = (
                Endpoint.objects.select_for_update(no_key=True, skip_locked=True)
                .select_related("client")
                .filter(pk=endpoint_id, active=True, deleted_at__isnull=True)
                .first()
            )
            if endpoint is None or endpoint.cursor >= upto:
                continue
            events = list(_events_for(endpoint).filter(seq__gt=endpoint.cursor, seq__lte=upto).order_by("seq")[:batch])
            Delivery.objects.bulk_create([_delivery(endpoint, e, now) for e in events], ignore_conflicts=True)
            endpoint.cursor = events[-1].seq if len(events) == batch else upto
            endpoint.save(update_fields=["cursor"])
            made += len(events)
    return made


# ------------------------------------------------------------- delivery ----


@dataclass
class Outcome:
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str
    excerpt: str
    url: str


def webhook_body(event: Event) -> bytes:
    """The Standard Webhooks payload: type, timestamp, and the event as the
    outbox publishes it (docs/events/<type>.v1.json)."""
    body = {"type": event.type, "timestamp": event.occurred_at, "data": event_message(event)}
    return json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_headers(*, endpoint: Endpoint, msg_id: str, body: bytes, at: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(key).sign(msg_id, at, body) for key in signing_secrets(endpoint, at))
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def _send(endpoint: Endpoint, event: Event, at: datetime) -> Outcome:
    started = time.monotonic()

    def outcome(ok=False, status_code=None, error="", excerpt=""):
        return Outcome(ok, status_code, int((time.monotonic() - started) * 1000), error[:255], excerpt, endpoint.url)

    try:
        target = url_check(endpoint.url)  # again: DNS may answer otherwise now
    except WebhookUrlRefused as exc:
        return outcome(error=f"not sent: {exc.message}")
    body = webhook_body(event)
    headers = webhook_headers(endpoint=endpoint, msg_id=f"evt_{event.id}", body=body, at=at)
    headers["host"] = target.host_header
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(settings.WEBHOOKS_TIMEOUT_SECONDS, connect=min(5.0, settings.WEBHOOKS_TIMEOUT_SECONDS))
    try:
        # trust_env=False: no proxy from the environment between the check and the call.
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as http:
            with http.stream(
                "POST", target.url_to_address(), content=body, headers=headers, extensions=extensions
            ) as response:
                excerpt = b""
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_BYTES:
                        break
                text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")
                ok = 200 <= response.status_code < 300
                error = "" if ok else f"answered {response.status_code}"
                if response.is_redirect:
                    error += " (a redirect: not followed)"
                return outcome(ok, response.status_code, error, text)
    except httpx.TimeoutException as exc:
        return outcome(error=f"timed out ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return outcome(error=f"{type(exc).__name__}: {exc}")


def _lock(endpoint_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, endpoint_id])
        return cursor.fetchone()[0]


def _unlock(endpoint_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, endpoint_id])


def endpoint_deliver(*, endpoint_id: int, budget: int = 100) -> int:
    """Send the endpoint's due deliveries in order, at most ``budget``
    attempts; stop at the first that fails (it is retried on its schedule,
    before anything after it). Returns how many attempts were made; 0 when
    another worker is at the endpoint."""
    if not _lock(endpoint_id):
        return 0
    made = 0
    try:
        while made < budget:
            endpoint = Endpoint.objects.select_related("client").filter(pk=endpoint_id).first()
            if endpoint is None or not endpoint.sends:
                break
            delivery = (
                Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).order_by("seq", "id").first()
            )
            if delivery is None or delivery.next_attempt_at > timezone.now():
                break
            result = _attempt(endpoint, delivery)
            made += 1
            if result == "retry":
                break
    finally:
        _unlock(endpoint_id)
    return made


def _attempt(endpoint: Endpoint, delivery: Delivery) -> str:
    at = timezone.now()
    event = Event.objects.filter(pk=delivery.event_id).first()
    if event is None:
        outcome = Outcome(False, None, 0, "not sent: the event was archived (past the retention)", "", endpoint.url)
    else:
        outcome = _send(endpoint, event, at)
    return attempt_record(endpoint=endpoint, delivery=delivery, at=at, outcome=outcome, archived=event is None)


def _next_delay(tries: int) -> float | None:
    """Seconds to wait after the ``tries``-th failed try; None: no more."""
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    return schedule[tries - 1] if tries <= len(schedule) else None


def attempt_record(*, endpoint: Endpoint, delivery: Delivery, at: datetime, outcome: Outcome, archived=False) -> str:
    """Record one attempt and its consequences, in one transaction: the
    delivery delivered, to be retried, or dead-lettered; the endpoint's
    run of failures, and its disabling (with its event) at the threshold.
    Returns ``delivered``, ``retry`` or ``dead``."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update(no_key=True).select_related("client").get(pk=endpoint.pk)
        delivery = Delivery.objects.select_for_update(no_key=True).get(pk=delivery.pk)
        delivery.attempts += 1
        delivery.tries += 1
        now = timezone.now()
        if outcome.ok:
            result = "delivered"
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
            delivery.last_error = ""
        else:
            delay = None if archived else _next_delay(delivery.tries)
            result = "dead" if delay is None else "retry"
            delivery.last_error = outcome.error or f"answered {outcome.status_code}"
            if delay is None:
                delivery.status, delivery.dead_at, delivery.next_attempt_at = DeliveryStatus.DEAD, now, None
            else:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
        Attempt.objects.create(
            delivery=delivery,
            endpoint=endpoint,
            number=delivery.attempts,
            at=at,
            url=outcome.url,
            ok=outcome.ok,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            response_excerpt=outcome.excerpt,
            outcome=result,
        )
        delivery.save()
        if archived:
            pass  # the receiver was not called: says nothing of the endpoint
        elif outcome.ok:
            endpoint.last_success_at = now
            endpoint.consecutive_failures = 0
            endpoint.failing_since = None
            endpoint.save(update_fields=["last_success_at", "consecutive_failures", "failing_since"])
        else:
            endpoint.last_failure_at = now
            endpoint.consecutive_failures += 1
            endpoint.failing_since = endpoint.failing_since or at
            fields = ["last_failure_at", "consecutive_failures", "failing_since"]
            if endpoint.active and endpoint.consecutive_failures >= settings.WEBHOOKS_DISABLE_AFTER_FAILURES:
                _disable(endpoint, outcome, now)
                fields += ["active", "disabled_at", "disabled_reason"]
            endpoint.save(update_fields=fields)
    return result


def _disable(endpoint: Endpoint, outcome: Outcome, now: datetime) -> None:
    endpoint.active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"{endpoint.consecutive_failures} failed attempts in a row since "
        f"{timezone.localtime(endpoint.failing_since):%Y-%m-%d %H:%M:%S %Z}; last: {outcome.error}"
    )[:255]
    _change(endpoint, "disabled", "ledger", reason=endpoint.disabled_reason)
    parts = httpx.URL(endpoint.url)
    event_record(
        "webhook.endpoint_disabled",
        aggregate_type="webhook_endpoint",
        aggregate_id=endpoint.pk,
        payload={
            "endpoint_id": endpoint.pk,
            "source_system": endpoint.client.source_system,
            # No query string: it may carry the receiver's own token, and
            # every reader of /events sees this event.
            "url": str(parts.copy_with(query=None, fragment=None)),
            "consecutive_failures": endpoint.consecutive_failures,
            "failing_since": endpoint.failing_since,
            "disabled_at": now,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        },
    )
