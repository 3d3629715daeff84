"""Beat jobs of the event outbox: thin shells over events.services."""

from celery import shared_task

from . import services


@shared_task(name="events.tasks.events_sequence")
def events_sequence() -> int:
    return services.events_sequence()


@shared_task(name="events.tasks.events_archive")
def events_archive() -> int:
    return services.events_archive()
