"""Endpoints, their deliveries and every attempt of each.

An ``Endpoint`` belongs to an API client (config.api's ``ApiClient``, named
by its label so the events app never imports the HTTP layer). Its
``cursor`` is the last event sequence number it has been given: the
dispatcher makes a ``Delivery`` for each later event of the endpoint's
types, in sequence order, and moves the cursor. A delivery is tried until
it is answered 2xx, or dead-lettered when the retry schedule is spent;
each try is an ``Attempt`` (append-only, events/webhooks/sql/webhooks.sql),
and each change of an endpoint's state an ``EndpointChange``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Endpoint(models.Model):
    client = models.ForeignKey("api.ApiClient", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.CharField("URL", max_length=2000)
    event_types = models.JSONField(default=list, blank=True, help_text="Empty: every type.")
    description = models.CharField(max_length=200, blank=True)
    # The owner's switch; the ledger turns it off too, after
    # WEBHOOKS_DISABLE_AFTER_FAILURES failures in a row (disabled_at set).
    active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    # Staff's switch: a paused endpoint keeps getting deliveries made, none sent.
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.CharField(max_length=150, blank=True)
    # whsec_<base64>: HMAC keys, so they are kept as they are (a hash would
    # not sign). Shown to the client once, when made.
    secret = models.CharField(max_length=64, editable=False)
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    cursor = models.BigIntegerField(default=0, help_text="The last event seq given to this endpoint.")
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "webhook endpoint (推送地址)"
        ordering = ["id"]
        permissions = [("operate_endpoint", "Can pause, resume and redeliver webhook endpoints")]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "url"], condition=Q(deleted_at__isnull=True), name="webhook_endpoint_url_unique"
            ),
        ]

    def __str__(self):
        return f"W{self.pk} {self.url}"

    @property
    def state(self) -> str:
        if self.deleted_at:
            return "deleted"
        if self.disabled_at:
            return "disabled"
        if not self.active:
            return "off"
        if self.paused_at:
            return "paused"
        return "failing" if self.consecutive_failures else "active"

    @property
    def sends(self) -> bool:
        return self.active and not self.paused_at and not self.deleted_at


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending (待推送)"
    DELIVERED = "delivered", "delivered (已送达)"
    DEAD = "dead", "dead-lettered (已放弃)"


class Delivery(models.Model):
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="deliveries")
    # No database constraint: the retention job archives and deletes old
    # events, and a delivery's history outlives them.
    event = models.ForeignKey(
        "events.Event", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", null=True
    )
    seq = models.BigIntegerField()
    event_type = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    # Every try of this delivery; tries counts those since the schedule
    # (re)started, at creation or at a staff redelivery.
    attempts = models.PositiveIntegerField(default=0)
    tries = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    redelivered_at = models.DateTimeField(null=True, blank=True)
    redelivered_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["endpoint", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "dead"]), name="webhook_delivery_status"
            ),
            # A pending delivery has its next try; a finished one none.
            models.CheckConstraint(
                condition=Q(status="pending", next_attempt_at__isnull=False)
                | (~Q(status="pending") & Q(next_attempt_at__isnull=True)),
                name="webhook_delivery_next_attempt",
            ),
        ]
        indexes = [
            models.Index(
                fields=["endpoint", "seq"], condition=Q(status="pending"), name="webhook_delivery_pending_idx"
            ),
            models.Index(fields=["endpoint", "status"], name="webhook_delivery_status_idx"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.event_type} → W{self.endpoint_id} ({self.status})"


class Attempt(models.Model):
    """One HTTP request of a delivery, or the refusal to send it (the URL no
    longer passes the address check): append-only."""

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="attempt_rows")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField(help_text="1, 2, 3 ... within the delivery.")
    at = models.DateTimeField()
    url = models.CharField(max_length=2000)
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=255, blank=True)
    response_excerpt = models.TextField(blank=True)
    # What became of the delivery after this attempt: delivered, retry, dead.
    outcome = models.CharField(max_length=16)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"], name="webhook_attempt_endpoint_idx")]

    def __str__(self):
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code or self.error}"


class EndpointChange(models.Model):
    """Who changed an endpoint's state, and how: append-only."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="changes")
    kind = models.CharField(max_length=24)
    actor = models.CharField(max_length=150)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.kind} by {self.actor}"
