"""Reads of the webhooks: a client's endpoints and attempts (the API), the
endpoints with due deliveries (the dispatcher), and the staff overview."""

from __future__ import annotations

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from .exceptions import WebhookEndpointNotFound
from .models import Attempt, Delivery, DeliveryStatus, Endpoint

BIGINT_MAX = 2**63 - 1


def endpoints_of(*, client) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(client=client, deleted_at__isnull=True).order_by("id")


def endpoint_of(*, client, endpoint_id: int) -> Endpoint:
    """The client's endpoint, or 404: another client's is not there for it."""
    endpoint = None
    if 1 <= endpoint_id <= BIGINT_MAX:
        endpoint = endpoints_of(client=client).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(f"No webhook endpoint {endpoint_id} of this client.", endpoint_id=endpoint_id)
    return endpoint


def attempts_of(*, endpoint: Endpoint, before: int | None = None, limit: int = 50) -> list[Attempt]:
    """The endpoint's attempts, newest first; ``before``: older than that attempt id."""
    attempts = Attempt.objects.filter(endpoint=endpoint).select_related("delivery")
    if before:
        attempts = attempts.filter(id__lt=before)
    return list(attempts.order_by("-id")[:limit])


def endpoints_due() -> list[int]:
    """Endpoints that send, with a pending delivery whose time has come."""
    due = Delivery.objects.filter(
        endpoint=OuterRef("pk"), status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
    )
    return list(
        Endpoint.objects.filter(active=True, paused_at__isnull=True, deleted_at__isnull=True)
        .filter(Exists(due))
        .values_list("id", flat=True)
    )


def endpoints_overview() -> QuerySet[Endpoint]:
    """Every endpoint not deleted, with its pending and dead-lettered
    deliveries counted and its last attempt's time."""
    return (
        Endpoint.objects.filter(deleted_at__isnull=True)
        .select_related("client")
        .annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING), distinct=True),
            dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD), distinct=True),
            last_attempt_at=Max("attempts__at"),
        )
        .order_by("-consecutive_failures", "id")
    )


def failing_filter() -> Q:
    """What the staff page calls failing: a run of failures going on,
    disabled for failures, or dead letters."""
    return Q(consecutive_failures__gt=0) | Q(disabled_at__isnull=False) | Q(dead__gt=0)


def deliveries_of(*, endpoint: Endpoint, status: str | None = None) -> QuerySet[Delivery]:
    deliveries = Delivery.objects.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.order_by("-seq")
