"""What the database refuses whoever writes (events/webhooks/sql/webhooks.sql):
attempts and endpoint history are never edited or deleted; a delivery is
marked delivered only by an attempt answered 2xx, and its count of attempts
never goes down. Forged as the runtime role, in raw SQL."""

from __future__ import annotations

import psycopg
import pytest

from events.webhooks.models import Attempt, EndpointChange

from .books import endpoint_for, failed_attempt

pytestmark = pytest.mark.django_db(transaction=True)


def test_attempts_and_history_are_append_only(runtime_sql):
    endpoint, _ = endpoint_for("http://127.0.0.1:9/a")
    delivery = failed_attempt(endpoint, seq=3)
    attempt = Attempt.objects.get(delivery=delivery)
    change = EndpointChange.objects.get(endpoint=endpoint)
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql("UPDATE webhooks_attempt SET ok = true, status_code = 200 WHERE id = %s", [attempt.id])
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql("DELETE FROM webhooks_attempt WHERE id = %s", [attempt.id])
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql("UPDATE webhooks_endpointchange SET actor = 'someone' WHERE id = %s", [change.id])
    with pytest.raises(psycopg.errors.RestrictViolation):
        runtime_sql("DELETE FROM webhooks_endpointchange WHERE id = %s", [change.id])


def test_a_delivery_is_delivered_only_by_a_2xx_attempt(runtime_sql):
    endpoint, _ = endpoint_for("http://127.0.0.1:9/a")
    delivery = failed_attempt(endpoint, seq=3)  # attempt 1: 500
    with pytest.raises(psycopg.errors.CheckViolation):
        runtime_sql(
            "UPDATE webhooks_delivery SET status = 'delivered', next_attempt_at = NULL, delivered_at = now() "
            "WHERE id = %s",
            [delivery.id],
        )
    with pytest.raises(psycopg.errors.CheckViolation):
        runtime_sql("UPDATE webhooks_delivery SET attempts = 0 WHERE id = %s", [delivery.id])
    # An ok attempt 2 written first, then the delivery: accepted.
    runtime_sql(
        "INSERT INTO webhooks_attempt (delivery_id, endpoint_id, number, at, url, ok, status_code, latency_ms, "
        "error, response_excerpt, outcome) VALUES (%s, %s, 2, now(), 'x', true, 200, 1, '', '', 'delivered')",
        [delivery.id, endpoint.id],
    )
    runtime_sql(
        "UPDATE webhooks_delivery SET status = 'delivered', attempts = 2, next_attempt_at = NULL WHERE id = %s",
        [delivery.id],
    )
