"""Celery tasks of the ledger: thin shells over services, safe to run twice."""

from datetime import date

from celery import shared_task

from . import services
from .credit import tasks as credit_tasks  # noqa: F401 (registers the credit product's beat job)
from .services import buffers, statements


@shared_task(name="postings.tasks.holds_expire_due")
def holds_expire_due() -> int:
    return services.holds_expire_due()


@shared_task(name="postings.tasks.buffers_flush")
def buffers_flush() -> int:
    """Apply hot accounts' pending entries (postings.services.buffers)."""
    return buffers.buffers_flush()


@shared_task(name="postings.tasks.orders_confirm_due")
def orders_confirm_due() -> int:
    """Confirm paid guarantee orders past their confirm-by time (超时自动确认)."""
    return services.orders_confirm_due()


@shared_task(name="postings.tasks.monthly_statements_generate")
def monthly_statements_generate(month: str | None = None) -> int:
    """Members' statements of last month (or ``month``, YYYY-MM-01) as PDF;
    those already made are kept, so a second run makes none."""
    run = statements.monthly_statements_generate(month=date.fromisoformat(month) if month else None)
    return run.made
