"""Celery tasks of the ledger: thin shells over services, safe to run twice."""

from celery import shared_task

from . import services
from .services import buffers


@shared_task(name="postings.tasks.holds_expire_due")
def holds_expire_due() -> int:
    return services.holds_expire_due()


@shared_task(name="postings.tasks.buffers_flush")
def buffers_flush() -> int:
    """Apply hot accounts' pending entries (postings.services.buffers)."""
    return buffers.buffers_flush()
