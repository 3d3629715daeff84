"""Channel reconciliation pages (渠道对账) under /reports/recon/: statement
upload, the runs per channel and day, the differences (filtered, exported)
and a difference's page where it is worked to a resolution.

Reading needs the view permission of what is shown; uploading and running
the matching need ``reports.import_statement``; working a difference needs
``reports.work_difference``, checked here and again by ``reports.channel.work``
(which also refuses a proposer approving their own proposal). Reads go
through ``reports.channel.selectors``, writes through
``reports.channel.importing``, ``reports.channel.work`` and (queued by
name) the matching task.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.tasks import enqueue_now

from ..exports import XLSX_TYPE, csv_response
from ..staging.models import StagedUpload
from ..staging.services import staged_upload_commit, staged_upload_create
from . import exporting, progress, selectors, voiding, work
from .exporting import DIFFERENCE_COLUMNS
from .filters import DifferenceFilter, ReconRunFilter
from .forms import AdjustmentForm, StatementUploadForm
from .importing import statement_import, statement_preview
from .models import (
    Channel,
    Difference,
    DifferenceExport,
    DifferenceStatus,
    ExportStatus,
    ProposalStatus,
    StatementImport,
    VoidStatus,
)

VIEW_RUNS = "reports.view_reconrun"
VIEW_DIFFERENCES = "reports.view_difference"
IMPORT = "reports.import_statement"
WORK = work.PERM_WORK


def _queue_matching(request, channel: Channel, day: date) -> None:
    """Queue the day's matching; without a broker (the demo) it runs here and
    then, so a refusal (no clearing account, say) is shown at once. A broker
    that is down keeps it for later (accounts.kernel.tasks), and the message says so."""
    what = f"Matching of {channel.code} on {day:%Y-%m-%d}"
    progress.progress_set(channel.code, day, progress.QUEUED)  # not the bar of an earlier run
    try:
        sent = enqueue_now("reports.tasks.channel_recon_run", (channel.code, day.isoformat()))
    except LedgerError as exc:
        messages.error(request, f"{what} refused: {exc.message}")
    else:
        if sent is None:
            messages.warning(
                request, f"{what} recorded; the task queue is not answering, it runs when the queue is back."
            )
            return
        done = "done" if settings.CELERY_TASK_ALWAYS_EAGER else "queued"
        messages.info(request, f"{what} {done}; running it again gives the same figures.")


# ---------------------------------------------------------------- runs ----


@require_GET
@staff_page(VIEW_RUNS)
def recon_runs(request):
    # Bound even without a query: the page opens on the recent runs, unfiltered.
    filterset = ReconRunFilter(request.GET, queryset=selectors.recon_runs())
    rows = filterset.qs if filterset.is_valid() else filterset.queryset.none()
    data = filterset.form.cleaned_data if filterset.is_valid() else {}
    return render(
        request,
        "reports/recon_runs.html",
        {
            "filter": filterset,
            "page": paginate(request, rows, 50),
            "unmatched": selectors.statements_unmatched(channel=data.get("channel")).order_by("-statement_date")[:50],
            "can_run": request.user.has_perm(IMPORT),
            "querystring": querystring_without(request, "page"),
        },
    )


@require_POST
@staff_page(VIEW_RUNS, IMPORT)
def recon_match(request):
    """Run (or re-run) the matching of one imported statement's day."""
    statement = get_object_or_404(
        StatementImport.objects.select_related("channel"), pk=request.POST.get("statement") or 0
    )
    channel, day = statement.channel, statement.statement_date
    _queue_matching(request, channel, day)
    runs = reverse("reports:recon_runs") + f"?channel={channel.code}&date_from={day:%Y-%m-%d}&date_to={day:%Y-%m-%d}"
    return redirect(_after_queueing(channel, day, runs))


def _after_queueing(channel: Channel, day: date, runs: str) -> str:
    """Where to go once the matching is queued: its progress bar when a worker
    runs it; the runs when it has already run here (no broker)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return runs
    return reverse("reports:recon_progress", args=[channel.code, day.isoformat()])


@require_GET
@staff_page(VIEW_RUNS)
def recon_progress(request, code: str, day: str):
    """The progress bar of a day's matching; the page reloads itself until the
    run is done, then goes to the day's figures."""
    channel = get_object_or_404(Channel, code=code)
    try:
        on = date.fromisoformat(day)
    except ValueError:
        raise Http404(f"No day {day}.") from None
    state = progress.progress_get(channel.code, on)
    runs = reverse("reports:recon_runs") + f"?channel={channel.code}&date_from={on:%Y-%m-%d}&date_to={on:%Y-%m-%d}"
    if state is not None and state["step"] == progress.DONE:
        messages.success(request, f"Matching of {channel.code} on {on:%Y-%m-%d} done.")
        return redirect(runs)
    return render(
        request,
        "reports/recon_progress.html",
        {"channel": channel, "day": on, "state": state, "runs": runs, "failed": state and state["step"] == "failed"},
    )


@require_http_methods(["GET", "POST"])
@staff_page(IMPORT)
def statement_upload(request):
    """Read the file and show what it says (``statement_preview``); nothing is
    imported until the uploader confirms on the preview page."""
    if request.method == "POST":
        form = StatementUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            upload, channel, day = data["file"], data["channel"], data["statement_date"]
            content = upload.read()
            try:
                summary = statement_preview(channel=channel, statement_date=day, content=content)
            except LedgerError as exc:
                form.add_error("file", exc.message)
                return render(
                    request,
                    "reports/recon_upload.html",
                    {"form": form, "problems": getattr(exc, "problems", None), "more": getattr(exc, "more", 0)},
                    status=400,
                )
            staged = staged_upload_create(
                kind=StagedUpload.Kind.STATEMENT,
                user=request.user,
                file_name=upload.name,
                content=content,
                target={"channel": channel.code, "statement_date": day.isoformat()},
                preview=summary.as_preview(),
            )
            return redirect("reports:statement_preview", pk=staged.pk)
        return render(request, "reports/recon_upload.html", {"form": form}, status=400)
    form = StatementUploadForm(
        initial={"channel": request.GET.get("channel"), "statement_date": request.GET.get("date")}
    )
    return render(request, "reports/recon_upload.html", {"form": form})


@require_http_methods(["GET", "POST"])
@staff_page(IMPORT)
def statement_confirm(request, pk: int):
    """The preview of a staged statement (GET) and its confirmation (POST):
    only the member of staff who uploaded it sees it; confirming twice
    imports once."""
    staged = get_object_or_404(StagedUpload, pk=pk, kind=StagedUpload.Kind.STATEMENT, uploaded_by=request.user)
    channel = get_object_or_404(Channel, code=staged.target["channel"])
    day = date.fromisoformat(staged.target["statement_date"])
    runs = reverse("reports:recon_runs") + f"?channel={channel.code}&date_from={day:%Y-%m-%d}&date_to={day:%Y-%m-%d}"
    if request.method == "POST":
        try:
            statement_id, replayed = staged_upload_commit(
                staged_id=staged.pk,
                user=request.user,
                commit=lambda s: (
                    statement_import(
                        channel=channel,
                        statement_date=day,
                        file_name=s.file_name,
                        content=s.content,
                        imported_by=request.user.get_username(),
                    ).pk
                ),
            )
        except LedgerError as exc:
            messages.error(request, f"Not imported: {exc.message}")
            return redirect("reports:statement_preview", pk=staged.pk)
        if replayed:
            messages.info(request, f"Statement #{statement_id} was already imported from this upload.")
            return redirect(runs)
        count = staged.preview["line_count"]
        messages.success(
            request,
            f"Statement #{statement_id}: {count} line{'s' if count != 1 else ''} of "
            f"{staged.file_name} for {channel.code} on {day:%Y-%m-%d}.",
        )
        _queue_matching(request, channel, day)
        return redirect(_after_queueing(channel, day, runs))
    if staged.committed_id is not None:
        messages.info(request, f"This upload was imported as statement #{staged.committed_id}.")
        return redirect(runs)
    return render(
        request,
        "reports/recon_preview.html",
        {"staged": staged, "p": staged.preview, "channel": channel, "day": day},
    )


# --------------------------------------------------------------- voids ----


@require_GET
@staff_page(VIEW_RUNS)
def statement_detail(request, pk: int):
    """A statement as imported, its void history, and (for finance) asking
    for a void or deciding one someone else asked for."""
    statement = get_object_or_404(StatementImport.objects.select_related("channel"), pk=pk)
    voids = list(selectors.statement_voids(statement_ids=[statement.pk]))
    live = next((v for v in voids if v.status == VoidStatus.REQUESTED), None)
    may_act = request.user.has_perm(IMPORT)
    return render(
        request,
        "reports/recon_statement.html",
        {
            "s": statement,
            "voids": voids,
            "live": live,
            "may_request": may_act and statement.voided_at is None and live is None,
            "may_decide": may_act and live is not None and live.requested_by_id != request.user.pk,
            "own_request": live is not None and live.requested_by_id == request.user.pk,
            "lines": statement.lines.order_by("line_no")[:5],
        },
    )


@require_POST
@staff_page(VIEW_RUNS, IMPORT)
def statement_void_act(request, pk: int):
    action, note = request.POST.get("action", ""), request.POST.get("note", "").strip()
    back = redirect("reports:recon_statement", pk=pk)
    try:
        if action == "request":
            void = voiding.statement_void_request(statement_id=pk, user=request.user, reason=note)
            done = f"Void V{void.pk} asked for; another member of staff must approve it."
        elif action in ("approve", "reject"):
            live = selectors.statement_voids(statement_ids=[pk]).filter(status=VoidStatus.REQUESTED).first()
            if live is None:
                messages.error(request, f"Statement #{pk} has no void awaiting a decision.")
                return back
            if action == "approve":
                voiding.statement_void_approve(void_id=live.pk, user=request.user, note=note)
                done = f"Statement #{pk} is void; its day is matched again without its lines."
            else:
                void = voiding.statement_void_reject(void_id=live.pk, user=request.user, note=note)
                done = f"V{void.pk} {'withdrawn' if void.decided_by_id is None else 'rejected'}."
        else:
            messages.error(request, f"Unknown action {action!r}.")
            return back
    except LedgerError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return back


# --------------------------------------------------------- differences ----


def _differences(request) -> tuple[DifferenceFilter, object]:
    filterset = DifferenceFilter(request.GET, queryset=selectors.differences())
    return filterset, (filterset.qs if filterset.is_valid() else filterset.queryset.none())


def _export_name(filterset: DifferenceFilter) -> str:
    data = filterset.form.cleaned_data if filterset.is_valid() else {}
    parts = ["differences", data.get("status") or "all"]
    if data.get("channel"):
        parts.append(data["channel"].code)
    if data.get("date_from") or data.get("date_to"):
        parts.append("-".join(f"{d:%Y%m%d}" for d in (data.get("date_from"), data.get("date_to")) if d))
    return "-".join(parts)


@require_GET
@staff_page(VIEW_DIFFERENCES)
def differences(request):
    filterset, rows = _differences(request)
    query = filterset.data.urlencode()
    return render(
        request,
        "reports/recon_differences.html",
        {
            "filter": filterset,
            "page": paginate(request, rows, 50),
            "totals": selectors.difference_totals(rows),
            "awaiting": selectors.proposals_awaiting_approval(checker=request.user)[:50]
            if request.user.has_perm(WORK)
            else [],
            "querystring": querystring_without(request, "page"),
            "export_query": query,
        },
    )


@require_GET
@staff_page(VIEW_DIFFERENCES)
def differences_csv(request):
    filterset, rows = _differences(request)
    return csv_response(
        _export_name(filterset), DIFFERENCE_COLUMNS, rows.iterator(chunk_size=2000), lambda d: d.currency
    )


@require_POST
@staff_page(VIEW_DIFFERENCES)
def differences_xlsx(request):
    """Ask a worker for the spreadsheet of the filtered differences (the form's
    query string carries the filter); the export's page follows it."""
    filterset, _ = _differences(request)
    if not filterset.is_valid():
        messages.error(request, "Fix the filter before exporting.")
        return redirect(reverse("reports:recon_differences") + "?" + request.GET.urlencode())
    export = exporting.difference_export_request(
        user=request.user, criteria=filterset.criteria(), file_name=_export_name(filterset) + ".xlsx"
    )
    return redirect("reports:recon_export", pk=export.pk)


def _own_export(request, pk: int) -> DifferenceExport:
    return get_object_or_404(DifferenceExport.objects.defer("content"), pk=pk, requested_by=request.user)


@require_GET
@staff_page(VIEW_DIFFERENCES)
def difference_export(request, pk: int):
    """How far the worker has got; the page reloads itself until the file is ready."""
    export = _own_export(request, pk)
    return render(request, "reports/recon_export.html", {"export": export, "ExportStatus": ExportStatus})


@require_GET
@staff_page(VIEW_DIFFERENCES)
def difference_export_file(request, pk: int):
    export = _own_export(request, pk)
    if export.status != ExportStatus.DONE:
        return redirect("reports:recon_export", pk=export.pk)
    content = DifferenceExport.objects.values_list("content", flat=True).get(pk=export.pk)
    response = HttpResponse(bytes(content), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{export.file_name}"'
    return response


@require_GET
@staff_page(VIEW_DIFFERENCES)
def difference_detail(request, pk: int):
    try:
        diff = selectors.difference_get(difference_id=pk)
    except Difference.DoesNotExist:
        raise Http404(f"No difference D{pk}.") from None
    proposals = list(selectors.difference_proposals(difference=diff))
    live = next((p for p in proposals if p.status == ProposalStatus.PROPOSED), None)
    may_work = request.user.has_perm(WORK)
    open_ = diff.status != DifferenceStatus.RESOLVED
    clearing = list(diff.channel.clearing_accounts.filter(currency=diff.currency).order_by("account_no"))
    return render(
        request,
        "reports/recon_difference.html",
        {
            "d": diff,
            "line": diff.statement_line,
            "postings": selectors.difference_postings(difference=diff),
            "proposals": proposals,
            "live": live,
            "history": selectors.difference_history(difference=diff).order_by("id"),
            "may_work": may_work and open_,
            "may_decide": may_work and live is not None and live.proposed_by_id != request.user.pk,
            "own_proposal": live is not None and live.proposed_by_id == request.user.pk,
            "workers": selectors.difference_workers() if may_work and open_ else [],
            "clearing": clearing,
            "clearing_side": "debit (借)" if diff.difference > 0 else "credit (贷)",
            "size": abs(diff.difference),
            "adjustment": AdjustmentForm(),
        },
    )


ACTIONS = {"assign", "investigate", "note", "adjust", "write_off", "approve", "reject", "channel_error"}


@require_POST
@staff_page(VIEW_DIFFERENCES, WORK)
def difference_act(request, pk: int):
    """Every change to a difference from its page; the service decides whether it is allowed."""
    action = request.POST.get("action", "")
    note = request.POST.get("note", "").strip()
    back = redirect("reports:recon_difference", pk=pk)
    if action not in ACTIONS:
        messages.error(request, f"Unknown action {action!r}.")
        return back
    user = request.user
    try:
        if action == "assign":
            username = request.POST.get("owner", "").strip()
            owner = get_user_model().objects.filter(username=username).first() if username else None
            if username and owner is None:
                messages.error(request, f"No user {username}.")
                return back
            work.difference_assign(difference_id=pk, owner=owner, user=user, note=note)
            done = f"Owner: {username or 'nobody'}."
        elif action == "investigate":
            work.difference_investigate(difference_id=pk, user=user, note=note)
            done = "Investigating."
        elif action == "note":
            work.difference_note(difference_id=pk, user=user, note=note)
            done = "Note added."
        elif action == "adjust":
            form = AdjustmentForm(request.POST)
            if not form.is_valid():
                messages.error(
                    request,
                    "An adjusting posting needs "
                    + "; ".join(
                        f"{form.fields[name].label.lower()}: {' '.join(errs)}" for name, errs in form.errors.items()
                    ),
                )
                return back
            diff = get_object_or_404(Difference, pk=pk)
            proposal = work.adjustment_propose(
                difference_id=pk,
                user=user,
                amount=abs(diff.difference),
                direction="D" if diff.difference > 0 else "C",
                counter_account_no=form.cleaned_data["counter_account_no"].strip(),
                memo=form.cleaned_data["memo"],
                clearing_account_no=request.POST.get("clearing_account_no") or None,
            )
            done = f"Adjusting posting P{proposal.pk} proposed; another member of staff must approve it."
        elif action == "write_off":
            proposal = work.write_off_propose(
                difference_id=pk,
                user=user,
                memo=note,
                clearing_account_no=request.POST.get("clearing_account_no") or None,
            )
            done = f"Write-off P{proposal.pk} proposed; another member of staff must approve it."
        elif action == "approve":
            proposal = work.proposal_approve(proposal_id=_proposal_of(pk, request), user=user, note=note)
            done = (
                f"P{proposal.pk} approved: posting {proposal.posting_id}; the difference is resolved."
                if not proposal.replayed
                else f"P{proposal.pk} was already approved (posting {proposal.posting_id})."
            )
        elif action == "reject":
            proposal = work.proposal_reject(proposal_id=_proposal_of(pk, request), user=user, note=note)
            done = f"P{proposal.pk} {'withdrawn' if proposal.decided_by_id is None else 'rejected'}."
        else:
            work.difference_mark_channel_error(difference_id=pk, user=user, note=note)
            done = "Resolved as the channel's error."
    except LedgerError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return back


def _proposal_of(pk: int, request) -> int:
    """The proposal named in the form, which must belong to this difference."""
    proposal_id = request.POST.get("proposal", "")
    if (
        not proposal_id.isdigit()
        or not selectors.difference_proposals(difference=Difference(pk=pk)).filter(pk=int(proposal_id)).exists()
    ):
        raise work.UnknownDifference(f"D{pk} has no proposal {proposal_id or '(none given)'}.", difference_id=pk)
    return int(proposal_id)
