"""Close certificate pages under /reports/certificates/: the list with the
sign-offs (finance: ``reports.sign_certificate``; first signer, then a
second person), a certificate's sealed contents, the redraft button (a
worker redrafts it: reading a day of a million accounts takes longer than
a request should) and the auditor's Verify (``reports.verify_ledger``).

Reading needs ``reports.view_closecertificate``; the services check the
sign-off permissions again."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.kernel.errors import LedgerError
from accounts.kernel.pages import paginate, querystring_without, staff_page
from accounts.kernel.permissions import has_permission
from accounts.kernel.tasks import enqueue_now
from accounts.selectors import main_entity

from . import selectors
from .forms import SignForm, VerifyForm
from .models import CertificateStatus, CloseCertificate
from .services import SIGN, certificate_cosign, certificate_sign
from .verify import ledger_verify

VIEW = "reports.view_closecertificate"
VERIFY = "reports.verify_ledger"


@require_GET
@staff_page(VIEW)
def certificates(request):
    entity = main_entity()
    rows = selectors.certificates()
    return render(
        request,
        "reports/certificates.html",
        {
            "page": paginate(request, rows, 31),
            "querystring": querystring_without(request, "page"),
            "can_sign": has_permission(request.user, SIGN),
            "can_verify": has_permission(request.user, VERIFY),
            "verify_form": VerifyForm(initial={"entity": entity.pk if entity else None}),
        },
    )


@require_GET
@staff_page(VIEW)
def certificate_detail(request, pk: int):
    certificate = get_object_or_404(selectors.certificates(), pk=pk)
    return render(
        request,
        "reports/certificate_detail.html",
        {
            "c": certificate,
            "can_sign": has_permission(request.user, SIGN),
            "document": selectors.certificate_document(
                entity_code=certificate.entity.code,
                day=certificate.accounting_date,
                contents=selectors.stored_contents(certificate),
            ),
        },
    )


def _back(certificate: CloseCertificate):
    return redirect(f"{reverse('reports:certificates')}#certificate-{certificate.pk}")


@require_POST
@staff_page(VIEW, SIGN)
def certificate_sign_view(request, pk: int):
    certificate = get_object_or_404(CloseCertificate, pk=pk)
    form = SignForm(request.POST)
    try:
        if certificate.status == CertificateStatus.DRAFT:
            if not form.is_valid():
                messages.error(request, "Not signed: the certificate's hash was not sent with the signature.")
                return _back(certificate)
            certificate = certificate_sign(
                acting_user=request.user, certificate_id=pk, seen_hash=form.cleaned_data["certificate_hash"]
            )
            messages.success(request, f"{certificate.accounting_date} signed; a second person co-signs it.")
        else:
            certificate = certificate_cosign(acting_user=request.user, certificate_id=pk)
            messages.success(request, f"{certificate.accounting_date} co-signed.")
    except LedgerError as exc:
        messages.error(request, f"Not signed: {exc.message}")
    return _back(certificate)


@require_POST
@staff_page(VIEW, SIGN)
def certificate_redraft(request, pk: int):
    certificate = get_object_or_404(CloseCertificate.objects.select_related("entity"), pk=pk)
    what = f"The certificate of {certificate.entity.code} {certificate.accounting_date:%Y-%m-%d}"
    if certificate.status != CertificateStatus.DRAFT:
        messages.warning(request, f"{what} is signed: it is not redrafted.")
        return _back(certificate)
    try:
        result = enqueue_now(
            "reports.tasks.certificate_draft",
            (certificate.entity.code, certificate.accounting_date.isoformat()),
            {"actor": request.user.get_username()},
        )
    except LedgerError as exc:
        messages.error(request, f"Not redrafted: {exc.message}")
    else:
        if result is None:
            messages.warning(request, f"{what}: redraft recorded; the task queue is not answering, it runs when back.")
        elif settings.CELERY_TASK_ALWAYS_EAGER:
            messages.success(request, f"{what} redrafted: hash {result.get()['certificate_hash'][:16]}...")
        else:
            messages.info(request, f"{what}: redraft queued; reload this page in a moment.")
    return _back(certificate)


@require_GET
@staff_page(VIEW, VERIFY)
def certificates_verify(request):
    form = VerifyForm(request.GET or None)
    result = None
    if form.is_valid():
        data = form.cleaned_data
        result = ledger_verify(entity=data["entity"], date_from=data["date_from"], date_to=data["date_to"])
    return render(request, "reports/certificates_verify.html", {"form": form, "result": result})
