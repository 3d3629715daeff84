"""Celery tasks of the agreements: thin shells over services, safe to run twice."""

from celery import shared_task

from . import services


@shared_task(name="postings.agreements.tasks.agreements_run_due")
def agreements_run_due() -> dict:
    """Expire agreements past their last day, then take the scheduled debits
    due (and the retries of those not taken in full)."""
    expired = services.agreements_expire_due()
    outcomes = services.debits_run_due()
    return {"expired": expired, **outcomes}
