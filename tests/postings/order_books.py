"""Shared set-up of the guarantee order tests: a buyer with money, a
merchant, and the entity's escrow, fee income and coupon accounts."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission

from accounts.models import Account
from postings.services import order_open


@dataclass
class Shop:
    buyer: Account
    merchant: Account
    escrow: Account
    fee: Account
    coupon: Account

    def open(self, request_no="o-1", amount="100.00", *, order_no=None, **kw):
        return order_open(
            order_no=order_no or f"T{request_no}",
            buyer_account_no=self.buyer.account_no,
            merchant_account_no=self.merchant.account_no,
            amount=amount,
            request_no=request_no,
            created_by="mall",
            **kw,
        )


def shop(ledger, *, buyer_funds="500.00") -> Shop:
    buyer, merchant = ledger.cash(ledger.member("Buyer")), ledger.cash(ledger.member("Merchant"))
    ledger.recharge(buyer, buyer_funds)
    return Shop(
        buyer=buyer,
        merchant=merchant,
        escrow=ledger.internal("ESCROW"),
        fee=ledger.internal("FEE_INCOME"),
        coupon=ledger.internal("COUPON"),
    )


def ensure_order_roles() -> None:
    """The roles as the migrations leave them (a transactional test empties them)."""
    from tests.postings.refund_books import ensure_refund_roles

    ensure_refund_roles()
    grants = importlib.import_module("postings.migrations.0019_guarantee_orders").GRANTS
    for group_name, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="postings", codename__in=codenames))
