"""Withdrawals in the admin: the rules finance edits (fees, review rules,
the watch list, paying banks) and a read-only view of requests and their
history. Requests are worked on the staff pages (/withdrawals/), whose
actions go through the services; nothing here moves a withdrawal."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts.kernel.admin import GovernedAdminMixin
from accounts.models import Account, Category
from postings.admin import (
    DateRangeFilter,
    LedgerTableAdmin,
    ReadOnlyAdminMixin,
    TradeNoFilter,
    admin_link,
    metadata_display,
    money_column,
)

from .models import (
    Approval,
    FeeRule,
    PayingBank,
    PayoutInstruction,
    ReviewRule,
    WatchListEntry,
    Withdrawal,
    WithdrawalEvent,
)


@admin.register(FeeRule)
class FeeRuleAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "currency",
        "fixed_display",
        "rate_percent",
        "minimum_display",
        "maximum_display",
        "active",
        "version",
        "created_at",
    ]
    list_filter = ["currency", "active"]
    lists_currency = True
    fixed_display = money_column("fixed", "fixed")
    minimum_display = money_column("minimum", "minimum")
    maximum_display = money_column("maximum", "maximum")


@admin.register(ReviewRule)
class ReviewRuleAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "kind", "currency", "amount_display", "count", "days", "active"]
    list_filter = ["kind", "active"]
    lists_currency = True
    amount_display = money_column("amount", "amount")

    def get_readonly_fields(self, request, obj=None):
        # History rows name rules by code; a renamed code would orphan them.
        return ["code"] if obj else []


@admin.register(WatchListEntry)
class WatchListEntryAdmin(admin.ModelAdmin):
    list_display = ["member", "reason", "active", "added_by", "added_at"]
    list_filter = ["active"]
    search_fields = ["member__member_no", "member__name"]
    autocomplete_fields = ["member"]
    readonly_fields = ["added_by", "added_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.added_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PayingBank)
class PayingBankAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["code", "name", "gateway", "clearing_account", "active"]
    list_filter = ["active", "gateway"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "clearing_account":
            kwargs["queryset"] = Account.objects.filter(
                category=Category.INTERNAL, account_type__code="CHANNEL_CLEARING"
            ).exclude(status="closed")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # Paid withdrawals were settled against this clearing account.
        return ["code", "clearing_account"] if obj else []


class WithdrawalEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WithdrawalEvent
    fields = ["at", "from_status", "to_status", "actor", "reason", "rule_codes", "bank_ref"]
    readonly_fields = fields
    extra = 0


class ApprovalInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Approval
    fields = ["at", "reviewer", "reason"]
    readonly_fields = fields
    extra = 0


class PayoutInstructionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PayoutInstruction
    fields = [
        "instruction_no",
        "attempt",
        "bank",
        "status",
        "bank_ref",
        "failure_reason",
        "sent_by",
        "sent_at",
        "answered_at",
        "duplicate_answers",
        "needs_attention",
        "attention_resolution",
        "attention_resolved_by",
        "attention_resolved_at",
        "attention_resolution_reason",
    ]
    readonly_fields = fields
    extra = 0


@admin.register(Withdrawal)
class WithdrawalAdmin(LedgerTableAdmin):
    list_display = [
        "id",
        "created_at",
        "member",
        "currency",
        "amount_display",
        "fee_display",
        "status",
        "card_masked",
        "source_system",
        "request_no",
        "trade_no",
    ]
    list_filter = [TradeNoFilter, "status", "currency", "source_system", ("created_at", DateRangeFilter)]
    search_fields = ["=request_no", "=member__member_no", "=account__account_no", "=trade_no"]
    list_select_related = ["member"]
    # card_number is deliberately absent: pages show the masked card only.
    fields = [
        "id",
        "status",
        "page_link",
        "member",
        "account_link",
        "entity",
        "currency",
        "amount_display",
        "fee_display",
        "fee_rule",
        "card_holder",
        "card_bank",
        "card_masked",
        "review_rules",
        "approvals_required",
        "hold_link",
        "settlement_link",
        "created_by",
        "created_at",
        "updated_at",
        "closing_reason",
        "source_system",
        "request_no",
        "trade_no",
        "metadata_display",
    ]
    readonly_fields = fields
    inlines = [WithdrawalEventInline, ApprovalInline, PayoutInstructionInline]
    lists_currency = True
    metadata_display = staticmethod(metadata_display)

    amount_display = money_column("amount", "amount")
    fee_display = money_column("fee", "fee")

    @admin.display(description="account")
    def account_link(self, obj):
        return admin_link(obj.account, obj.account.account_no)

    @admin.display(description="hold")
    def hold_link(self, obj):
        return admin_link(obj.hold)

    @admin.display(description="settlement")
    def settlement_link(self, obj):
        return admin_link(obj.settlement)

    @admin.display(description="work on it")
    def page_link(self, obj):
        return format_html('<a href="{}">withdrawal page</a>', reverse("withdrawals:detail", args=[obj.pk]))


@admin.register(PayoutInstruction)
class PayoutInstructionAdmin(LedgerTableAdmin):
    list_display = [
        "instruction_no",
        "withdrawal",
        "bank",
        "attempt",
        "status",
        "bank_ref",
        "sent_at",
        "answered_at",
        "duplicate_answers",
        "needs_attention",
    ]
    list_filter = ["status", "bank", ("sent_at", DateRangeFilter)]
    search_fields = ["=instruction_no", "=bank_ref"]
