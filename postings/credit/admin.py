"""Admin of the credit product: the product as a governed setting (a save
proposes, another ledger admin approves), and bills, accruals and
allocations to look at, never to add, change or delete."""

from __future__ import annotations

from django.contrib import admin

from accounts.kernel.admin import GovernedAdminMixin, ReadOnlyAdminMixin

from .governed import CreditProductSetting
from .models import Bill, CreditAccrual, CreditAllocation, CreditProduct


@admin.register(CreditProduct)
class CreditProductAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = (*CreditProductSetting.fields, "version")


@admin.register(Bill)
class BillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "account",
        "period_start",
        "period_end",
        "billing_date",
        "due_date",
        "amount_due",
        "minimum_due",
    )
    list_filter = ("billing_date", "product")
    search_fields = ("account__account_no", "account__member__member_no")
    date_hierarchy = "billing_date"


@admin.register(CreditAccrual)
class CreditAccrualAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("accrual_date", "account", "kind", "base", "rate", "amount", "posting", "bill")
    list_filter = ("kind", "accrual_date")
    search_fields = ("account__account_no",)


@admin.register(CreditAllocation)
class CreditAllocationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("accounting_date", "account", "kind", "amount", "penalty", "interest", "principal", "posting")
    list_filter = ("kind",)
    search_fields = ("account__account_no",)
