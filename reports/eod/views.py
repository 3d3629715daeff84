"""The end-of-day runs page and its retry button (``reports.run_eod``,
checked here and again by the service)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.tasks import enqueue_now

from .filters import EodRunFilter
from .models import EodRun, RunStatus

VIEW_RUNS = "reports.view_eodrun"
RUN_EOD = "reports.run_eod"


# ------------------------------------------------------ end-of-day runs ----


def failed_step(run: EodRun):
    return next((s for s in run.steps.all() if s.status == RunStatus.FAILED), None)


@require_GET
@staff_page(VIEW_RUNS)
def eod_runs(request):
    filterset = EodRunFilter(
        request.GET or None, queryset=EodRun.objects.select_related("entity").prefetch_related("steps")
    )
    page = paginate(request, filterset.qs, 30)
    can_retry = request.user.has_perm(RUN_EOD)
    return render(
        request,
        "reports/eod_runs.html",
        {
            "filter": filterset,
            "page": page,
            "runs": [(run, failed_step(run)) for run in page.object_list],
            "can_retry": can_retry,
            "querystring": querystring_without(request, "page"),
        },
    )


@require_POST
@staff_page(RUN_EOD)
def eod_retry(request, pk: int):
    """Retry a failed end of day from its failed step, as a Celery task: a
    day of a million accounts takes longer than a web request should. Without
    a broker (the demo) the task runs here and the message says how it ended."""
    run = get_object_or_404(EodRun.objects.select_related("entity").prefetch_related("steps"), pk=pk)
    step = failed_step(run)
    what = f"The end of day of {run.entity.code} on {run.accounting_date:%Y-%m-%d}"
    if run.status != RunStatus.FAILED or step is None:
        messages.warning(request, f"{what} has no failed step to retry.")
    else:
        try:
            result = enqueue_now(
                "reports.tasks.eod_run_day",
                (run.entity.code, run.accounting_date.isoformat(), step.name),
                {"actor": request.user.get_username()},
            )
        except LedgerError as exc:
            messages.error(request, f"Retry from {step.name} refused: {exc.message}")
        else:
            if result is None:  # the broker is down: kept in the task outbox (accounts.kernel.tasks)
                messages.warning(
                    request,
                    f"{what}: retry from {step.name} recorded; the task queue is not answering, "
                    "it runs when the queue is back.",
                )
            elif settings.CELERY_TASK_ALWAYS_EAGER:
                status = result.get()
                level = messages.success if status == RunStatus.DONE else messages.warning
                level(request, f"{what} retried from {step.name}: {status}.")
            else:
                messages.info(
                    request, f"{what}: retry from {step.name} queued; this page shows its steps as they finish."
                )
    return redirect(f"{reverse('reports:eod_runs')}#run-{run.pk}")
