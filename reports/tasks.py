"""Celery tasks of the reports app (its one tasks module, so the names
registered in beat and used by ``accounts.kernel.tasks`` stay ``reports.tasks.*``):
thin shells over the services, safe to run twice (a done day is recomputed
to the same rows; a run already in progress for the entity is left alone;
matching a day again changes nothing)."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from accounts.models import Entity

from .certificates.services import certificate_draft as draft_certificate
from .channel.inbox import statement_inbox_scan as inbox_scan
from .channel.matching import channel_recon_run as match_day
from .channel.models import Channel
from .channel.selectors import recon_summary
from .eod import services as eod
from .eod.exceptions import EodInProgress
from .exporting.services import export_run as write_export
from .settlement.services import merchant_settlements_run


@shared_task(name="reports.tasks.eod_run_due")
def eod_run_due() -> list[str]:
    """The beat job: cut the days whose cut time has passed, then close them."""
    runs = eod.eod_run_due(actor="system:eod-beat")
    return [f"{run.entity.code} {run.accounting_date} {run.status}" for run in runs]


@shared_task(name="reports.tasks.eod_run_day")
def eod_run_day(entity_code: str, date_iso: str, from_step: str | None = None, actor: str = "system:eod-task") -> str:
    """One entity's end of day for one date (staff's retry button, a backfill);
    ``actor`` is who asked, recorded on the run."""
    try:
        run = eod.eod_run(
            entity=Entity.objects.get(code=entity_code),
            accounting_date=date.fromisoformat(date_iso),
            actor=actor,
            from_step=from_step,
        )
    except EodInProgress:
        return "running"  # a duplicate delivery while the first is at work
    return run.status


@shared_task(name="reports.tasks.certificate_draft")
def certificate_draft(entity_code: str, date_iso: str, actor: str = "system:certificate-task") -> dict:
    """Redraft a day's close certificate (staff's Redraft button, after the
    day's vouchers were exported or its statements reconciled); a signed
    certificate is left as it is, so running it twice changes nothing."""
    certificate = draft_certificate(
        entity=Entity.objects.get(code=entity_code), day=date.fromisoformat(date_iso), actor=actor
    )
    return {"status": certificate.status, "certificate_hash": certificate.certificate_hash}


@shared_task(name="reports.tasks.channel_recon_run")
def channel_recon_run(channel_code: str, date_iso: str) -> dict:
    """Match one channel's statement day with the ledger (after an import, or
    again from the staff pages); running it twice changes nothing."""
    run = match_day(
        channel=Channel.objects.get(code=channel_code),
        recon_date=date.fromisoformat(date_iso),
        actor="system:channel-recon-task",
    )
    return recon_summary(run)


@shared_task(name="reports.tasks.statement_inbox_scan")
def statement_inbox_scan() -> list[dict]:
    """The beat job of the statement folder: import the settled files of
    CHANNEL_STATEMENT_INBOX (reports/channel/inbox.py); overlapping runs are
    safe, each file is claimed before it is read."""
    return inbox_scan()


@shared_task(name="reports.tasks.export_run")
def export_run(export_id: int) -> dict | None:
    """Write a spreadsheet someone asked for on a report page (any kind of export)."""
    export = write_export(export_id=export_id)
    return None if export is None else {"status": export.status, "rows": export.rows_done}


@shared_task(name="reports.tasks.difference_export_run")
def difference_export_run(export_id: int) -> dict | None:
    """The name differences exports were queued under before every kind had
    one task: outbox rows recorded under it before a deploy still run."""
    return export_run(export_id)


@shared_task(name="reports.tasks.merchant_settlements_due")
def merchant_settlements_due() -> list[str]:
    """The beat job: merchants' pending funds that are due (T+N) made
    available. Safe to run twice, or twice at once: a due entry is moved once."""
    run = merchant_settlements_run()
    return [f"{s.account.account_no} {s.amount}" for s in run.settled] + [
        f"{term_id} refused: {exc.code}" for term_id, exc in run.refused
    ]
