"""Shared set-up of the agreement tests: a member's wallet with money, the
payee's account, and an agreement between them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission

from accounts.models import Account
from postings.agreements.models import Agreement
from postings.agreements.services import agreement_debit, agreement_sign


@dataclass
class Mandate:
    payer: Account
    payee: Account
    agreement: Agreement

    def debit(self, amount, request_no, **kw):
        kw.setdefault("purpose", self.agreement.purpose)
        kw.setdefault("actor", "lender")
        kw.setdefault("source_system", self.agreement.source_system)
        return agreement_debit(agreement_id=self.agreement.pk, amount=amount, request_no=request_no, **kw)


def sign(ledger, *, payer=None, payee=None, funds="1000.00", request_no=None, **terms) -> Mandate:
    """An agreement letting ``payee`` (another member's wallet unless given)
    debit ``payer`` (a new wallet holding ``funds``)."""
    payer = payer or ledger.cash(ledger.member("Payer"))
    payee = payee or ledger.cash(ledger.member("Lender"))
    if funds:
        ledger.recharge(payer, funds)
    request_no = request_no or ledger.next_request("sign")
    terms.setdefault("agreement_no", f"AG-{request_no}")
    terms.setdefault("purpose", "credit_repayment")
    terms.setdefault("max_per_debit", "300.00")
    terms.setdefault("max_per_period", "500.00")
    terms.setdefault("actor", "lender")
    terms.setdefault("source_system", "lender")
    agreement = agreement_sign(
        payer_account_no=payer.account_no, payee_account_no=payee.account_no, request_no=request_no, **terms
    )
    return Mandate(payer=payer, payee=payee, agreement=agreement)


def ensure_agreement_roles() -> None:
    """The roles as the migrations leave them (a transactional test empties them)."""
    from tests.postings.refund_books import ensure_refund_roles

    ensure_refund_roles()
    grants = importlib.import_module("postings.agreements.migrations.0001_agreements").GRANTS
    for group_name, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="agreements", codename__in=codenames))
