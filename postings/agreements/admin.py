"""Agreements in the admin: read-only lists (the staff pages at
/agreements/ suspend and revoke, with a reason, through the services)."""

from django.contrib import admin

from accounts.kernel.admin import ReadOnlyAdminMixin

from .models import Agreement, AgreementEvent, DebitAttempt, DebitInstruction


class AgreementEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AgreementEvent
    fields = ("created_at", "kind", "from_status", "to_status", "reason", "actor")
    readonly_fields = fields
    extra = 0


@admin.register(Agreement)
class AgreementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "agreement_no", "source_system", "status", "payer_account", "payee_account", "purpose")
    list_filter = ("status", "frequency", "limit_period")
    search_fields = ("agreement_no", "request_no", "payer_account__account_no", "payee_account__account_no")
    list_select_related = ("payer_account", "payee_account")
    inlines = [AgreementEventInline]


@admin.register(DebitInstruction)
class DebitInstructionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "agreement", "due_date", "amount", "taken", "status", "attempts", "next_attempt_on")
    list_filter = ("status",)


@admin.register(DebitAttempt)
class DebitAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "agreement", "created_at", "amount_asked", "amount_taken", "outcome", "code", "posting")
    list_filter = ("outcome", "code")
    search_fields = ("request_no",)
    list_select_related = ("agreement", "posting")
