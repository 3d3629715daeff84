"""Shared set-up of the refund page tests: the staff roles with their refund
grants (postings/0017), and a payment with a fee and a revenue share."""

from __future__ import annotations

import importlib

from django.contrib.auth.models import Group, Permission

from postings.services import Leg, posting_create
from tests.reports.reporting import ensure_report_roles

ROLES = ["Finance staff", "Reviewer", "Cashier", "Auditor", "Ledger admin"]


def ensure_refund_roles() -> None:
    """The roles as the migrations leave them (a transactional test empties them)."""
    ensure_report_roles()
    grants = importlib.import_module("postings.migrations.0017_refunds").GRANTS
    for group_name, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="postings", codename__in=codenames))


def payment_with_fee_and_share(ledger, request_no: str = "pay-1"):
    """Alice pays the shop 100.00: 97.00 to the shop, 2.00 fee, 1.00 to the partner."""
    alice, shop, partner = ledger.cash(ledger.member("Alice")), ledger.cash(ledger.member("Shop")), ledger.cash()
    fee = ledger.internal("FEE_INCOME")
    ledger.recharge(alice, "500")
    posting = posting_create(
        request_no=request_no,
        business_type="transfer",
        posted_by="trade",
        legs=[
            Leg.debit(alice.account_no, "100.00"),
            Leg.credit(shop.account_no, "97.00"),
            Leg.credit(fee.account_no, "2.00"),
            Leg.credit(partner.account_no, "1.00"),
        ],
    )
    posting.accounts = dict(alice=alice, shop=shop, partner=partner, fee=fee)
    return posting
