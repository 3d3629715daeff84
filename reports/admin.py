"""Admin of channel reconciliation: a ledger admin proposes a change of a
channel's clearing accounts and statement layout here, and another approves
it (a governed setting, reports.governed); statements, runs and differences can be
looked at, never added, changed or deleted (they are written only by
``reports.channel``)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from accounts.kernel.admin import GovernedAdminMixin, money_column

from .certificates.models import CloseCertificate
from .channel.models import Channel, Difference, DifferenceEvent, ReconRun, StatementImport, StatementLine
from .settlement.models import (
    BusinessDayOverride,
    ChannelSettlement,
    ChannelSettlementSetup,
    MerchantSettlement,
    ReserveBankAccount,
    SettlementTerm,
)
from .vouchers.models import SubjectDimensions, VoucherGrouping


class ChannelForm(forms.ModelForm):
    class Meta:
        model = Channel
        fields = "__all__"

    def clean_clearing_accounts(self):
        """A clearing account belongs to one channel: its entries are that
        channel's records, and a record can be matched (or be a difference) once."""
        accounts = self.cleaned_data["clearing_accounts"]
        taken = (
            Channel.clearing_accounts.through.objects.filter(account__in=accounts)
            .exclude(channel_id=self.instance.pk)
            .select_related("account", "channel")
        )
        if taken:
            raise forms.ValidationError(
                "; ".join(
                    f"{link.account.account_no} is already the clearing account of {link.channel.code}"
                    for link in taken
                )
            )
        return accounts


@admin.register(Channel)
class ChannelAdmin(GovernedAdminMixin, admin.ModelAdmin):
    """A save proposes the change (reports.governed); another ledger admin approves it."""

    form = ChannelForm
    list_display = ("code", "name", "entity", "currency", "encoding", "amount_mode", "active")
    list_filter = ("active", "amount_mode", "encoding")
    search_fields = ("code", "name")
    filter_horizontal = ("clearing_accounts",)
    fieldsets = (
        (None, {"fields": ("code", "name", "entity", "currency", "clearing_accounts", "active")}),
        ("Statement file", {"fields": ("encoding", "delimiter", "skip_lines", "footer_marker", "footer_check")}),
        (
            "Columns",
            {
                "fields": (
                    "col_serial",
                    "col_date",
                    "col_time",
                    "time_format",
                    "amount_mode",
                    "col_amount",
                    "positive_is",
                    "col_direction",
                    "direction_in_values",
                    "direction_out_values",
                    "col_debit",
                    "col_credit",
                    "debit_is",
                    "col_fee",
                    "col_status",
                    "status_success_values",
                )
            },
        ),
        (
            "Matching and fees",
            {
                "fields": (
                    "pending_window_minutes",
                    "expected_fee_in_fixed",
                    "expected_fee_in_rate",
                    "expected_fee_out_fixed",
                    "expected_fee_out_rate",
                )
            },
        ),
    )

    def proposed_values(self, request, form, formsets):
        form.instance.proposed_clearing_accounts = [account.pk for account in form.cleaned_data["clearing_accounts"]]
        return super().proposed_values(request, form, formsets)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StatementImport)
class StatementImportAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "statement_date", "file_name", "line_count", "imported_by", "imported_at")
    list_filter = ("channel",)
    date_hierarchy = "statement_date"


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin):
    list_display = (
        "statement",
        "line_no",
        "serial_no",
        "txn_time",
        "direction",
        "currency",
        "amount_display",
        "fee_display",
        "status",
        "counts",
    )
    lists_currency = True
    amount_display = money_column("amount", "amount", currency="channel.currency")
    fee_display = money_column("fee", "fee", currency="channel.currency")

    @admin.display(description="currency", ordering="channel__currency")
    def currency(self, obj):
        return obj.channel.currency

    list_filter = ("channel", "direction", "counts")
    search_fields = ("serial_no",)
    raw_id_fields = ("statement",)


@admin.register(ReconRun)
class ReconRunAdmin(ReadOnlyAdmin):
    list_display = (
        "channel",
        "recon_date",
        "channel_count",
        "ledger_count",
        "matched_count",
        "long_count",
        "short_count",
        "mismatch_count",
        "pending_count",
        "late_matched_count",
        "runs",
        "last_run_at",
    )
    list_filter = ("channel",)
    date_hierarchy = "recon_date"


@admin.register(CloseCertificate)
class CloseCertificateAdmin(ReadOnlyAdmin):
    """Read here; signed and verified on /reports/certificates/."""

    list_display = (
        "entity",
        "accounting_date",
        "status",
        "entries_count",
        "sheet_rows",
        "certificate_hash",
        "signed_by",
        "cosigned_by",
    )
    list_filter = ("entity", "status")
    date_hierarchy = "accounting_date"


class DifferenceEventInline(admin.TabularInline):
    model = DifferenceEvent
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "from_value", "to_value", "note", "actor", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Difference)
class DifferenceAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "channel",
        "recon_date",
        "outcome",
        "status",
        "resolution",
        "serial_no",
        "currency",
        "channel_amount_display",
        "ledger_amount_display",
        "difference_display",
        "owner",
    )
    lists_currency = True
    channel_amount_display = money_column("channel_amount", "channel amount")
    ledger_amount_display = money_column("ledger_amount", "ledger amount")
    difference_display = money_column("difference", "difference")
    list_filter = ("channel", "outcome", "status", "resolution")
    search_fields = ("serial_no",)
    raw_id_fields = ("statement_line", "entry", "posting", "resolution_posting", "owner")
    inlines = [DifferenceEventInline]


# ------------------------------------------------------------- vouchers ----
# How vouchers are grouped and which auxiliary dimensions a subject keeps:
# control settings (reports.vouchers.governed): a save proposes, another
# ledger admin approves; the next build of a day follows them. Vouchers
# themselves are read on /reports/vouchers/, not here.


@admin.register(VoucherGrouping)
class VoucherGroupingAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["business_type", "group_by", "voucher_word"]


@admin.register(SubjectDimensions)
class SubjectDimensionsAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ["subject_code", "customer", "member", "merchant", "channel", "bank_account", "department"]


# ---------------------------------------------------------- settlement ----
# The business-day calendar is edited here (holidays, working weekends); the
# merchants' T+N terms and the channels' settlement setups are control
# settings (maker-checker). Settlements and their entries are only looked at.


@admin.register(BusinessDayOverride)
class BusinessDayOverrideAdmin(admin.ModelAdmin):
    list_display = ("entity", "date", "business_day", "name")
    list_filter = ("entity", "business_day")
    date_hierarchy = "date"


@admin.register(SettlementTerm)
class SettlementTermAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ("account", "pending_account", "days")
    raw_id_fields = ("account", "pending_account")
    search_fields = ("account__account_no__exact", "pending_account__account_no__exact")


@admin.register(ChannelSettlementSetup)
class ChannelSettlementSetupAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ("channel", "bank_account", "fee_account")
    raw_id_fields = ("bank_account", "fee_account")


@admin.register(ReserveBankAccount)
class ReserveBankAccountAdmin(admin.ModelAdmin):
    list_display = ("bank", "account_no", "name", "entity", "currency", "active")
    list_filter = ("entity", "currency", "active")


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MerchantSettlement)
class MerchantSettlementAdmin(_ReadOnly):
    list_display = ("id", "account", "pending_account", "amount", "settled_on", "funds_through", "posting")


@admin.register(ChannelSettlement)
class ChannelSettlementAdmin(_ReadOnly):
    list_display = ("id", "channel", "cut_off", "gross_in", "gross_out", "fee", "net", "entry_count", "posting")
