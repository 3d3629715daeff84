"""Celery tasks of the webhooks: thin shells over events.webhooks.services.

``webhooks_dispatch`` (beat, every WEBHOOKS_DISPATCH_SECONDS) makes the
deliveries of new events and sends one ``webhook_endpoint_deliver`` per
endpoint with a delivery due, on the WEBHOOKS_QUEUE queue
(CELERY_TASK_ROUTES). A retry is due at its time and picked up by the next
dispatch: the schedule lives in the database, not in the broker, so a lost
message or a restarted worker loses no retry.
"""

from celery import shared_task

from . import selectors, services

# A dispatch older than this is dropped by the worker: the next one sends again.
DELIVER_EXPIRES_SECONDS = 60


@shared_task(name="events.webhooks.tasks.webhooks_dispatch")
def webhooks_dispatch() -> int:
    services.webhooks_fan_out()
    due = selectors.endpoints_due()
    for endpoint_id in due:
        webhook_endpoint_deliver.apply_async(args=[endpoint_id], expires=DELIVER_EXPIRES_SECONDS)
    return len(due)


@shared_task(name="events.webhooks.tasks.webhook_endpoint_deliver")
def webhook_endpoint_deliver(endpoint_id: int) -> int:
    return services.endpoint_deliver(endpoint_id=endpoint_id)
