"""Admin for entities, customers, members, the chart and accounts.

Balances, frozen amounts and statuses are never saved from a form: opening an
account, changing a credit line and every status change (止付/止收/冻结/销户)
go through ``accounts.services``, which lock the row and write the history.

What the ledger adds to these pages (entries, holds, pending buffered entries,
hot-account switches) is postings' and is added by ``postings/account_admin.py``,
which registers the account and account-type admins with those parts.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.template.response import TemplateResponse

from accounts.kernel.admin import (
    GovernedAdminMixin,
    LedgerErrorMessagesMixin,
    ReadOnlyAdminMixin,
    admin_link,
    money_column,
)
from accounts.kernel.errors import LedgerError
from accounts.kernel.money import amount_html

from .models import (
    Account,
    AccountPostingModeChange,
    AccountStatus,
    AccountStatusChange,
    AccountType,
    Category,
    CreditLimitChange,
    Customer,
    Entity,
    Member,
)
from .services import (
    account_change_status,
    account_open,
    account_set_credit_limit,
)


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "base_currency")
    search_fields = ("code", "name")


# ------------------------------------------------- customers, members ----


class MemberInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Member
    extra = 0
    fields = readonly_fields = ("member_link", "name", "platform", "created_at")

    @admin.display(description="member")
    def member_link(self, obj):
        return admin_link(obj, obj.member_no)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "kind", "id_type", "id_no", "created_at")
    list_filter = ("kind", "id_type")
    search_fields = ("name", "id_no")
    inlines = (MemberInline,)


class AccountInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Account
    extra = 0
    lists_currency = True
    fields = readonly_fields = (
        "account_link",
        "account_type",
        "entity",
        "currency",
        "balance_display",
        "frozen_display",
        "available_display",
        "status",
    )

    balance_display = money_column("balance", "balance")
    frozen_display = money_column("frozen", "frozen")
    available_display = money_column("available", "available", sortable=False)

    @admin.display(description="account")
    def account_link(self, obj):
        return admin_link(obj, obj.account_no)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account_type", "entity")


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ("member_no", "name", "customer", "platform", "created_at")
    list_filter = ("platform",)
    search_fields = ("member_no", "name", "customer__name")
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
    inlines = (AccountInline,)


# --------------------------------------------------------------- chart ----


@admin.register(AccountType)
class AccountTypeAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "category", "subject_code", "allow_negative", "posting_mode")
    list_filter = ("category", "allow_negative")
    search_fields = ("code", "name", "subject_code")

    def get_readonly_fields(self, request, obj=None):
        # Mirrors the rule account_type_save enforces, so the form does not
        # offer what saving would refuse. The posting mode changes through
        # the actions, which change the type's accounts with it.
        if obj is not None and obj.accounts.exists():
            return ("code", "category", "allow_negative", "posting_mode")
        if obj is not None:
            return ("posting_mode",)
        return ()


# ------------------------------------------------------------ accounts ----


class AccountAddForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ("entity", "account_type", "member", "currency", "name", "credit_limit")
        help_texts = {
            "member": "Required for customer accounts; internal accounts (内部户) belong to no member.",
            "credit_limit": "Credit lines (asset accounts) only.",
            "name": "Defaults to the member's name, or the type's name for an internal account.",
        }


class AccountChangeForm(forms.ModelForm):
    # The service records it in the status history with the old and new
    # limit in front, in a 255-character column.
    reason = forms.CharField(
        max_length=180,
        required=False,
        help_text="Why the credit limit changes; kept in the account's history.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = Account
        fields = ("name", "credit_limit")

    def clean(self):
        cleaned = super().clean()
        if "credit_limit" in self.changed_data and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "A reason is required to change the credit limit.")
        return cleaned


class StatusChangeForm(forms.Form):
    reason = forms.CharField(
        max_length=255,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept in each account's status history.",
    )


class StatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AccountStatusChange
    extra = 0
    fields = readonly_fields = ("created_at", "from_status", "to_status", "reason", "changed_by")
    verbose_name_plural = "status history"


class CreditLimitChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CreditLimitChange
    extra = 0
    fields = readonly_fields = ("created_at", "old_limit", "new_limit", "used", "reason", "changed_by")
    verbose_name_plural = "credit limit history (授信额度调整)"


class PostingModeChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AccountPostingModeChange
    extra = 0
    fields = readonly_fields = ("created_at", "from_mode", "to_mode", "via_type", "changed_by")
    verbose_name_plural = "posting mode history (hot account switches)"


@admin.register(Account)
class AccountAdmin(LedgerErrorMessagesMixin, admin.ModelAdmin):
    list_display = (
        "account_no",
        "name",
        "member_no",
        "entity_code",
        "account_type",
        "currency",
        "balance_display",
        "frozen_display",
        "available_display",
        "status",
        "posting_mode",
    )
    list_filter = ("entity", "account_type", "category", "status", "currency", "posting_mode")
    search_fields = ("account_no", "member__member_no", "member__name")
    list_select_related = ("member", "entity", "account_type")
    autocomplete_fields = ("member",)
    inlines = (StatusChangeInline, CreditLimitChangeInline, PostingModeChangeInline)
    lists_currency = True
    actions = (
        "debit_block",
        "credit_block",
        "block",
        "unblock",
        "close",
    )

    balance_display = AccountInline.balance_display
    frozen_display = AccountInline.frozen_display
    available_display = AccountInline.available_display
    credit_limit_display = money_column("credit_limit", "credit limit")

    add_fieldsets = (
        (
            None,
            {
                "fields": AccountAddForm.Meta.fields,
                "description": "The account number is generated from the subject code, entity and sequence.",
            },
        ),
    )
    # Editable on an open account; everything else is shown read-only.
    editable_fields = ("name", "credit_limit", "reason")
    # Shown by the floors above (postings/account_admin.py): more money
    # fields after the posting mode, and whole sections after the money.
    more_money_fields: tuple[str, ...] = ()
    more_fieldsets: tuple = ()

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are closed (销户), never deleted

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        if obj.category != Category.ASSET:
            limit = ()
        elif obj.status == AccountStatus.CLOSED:
            limit = ("credit_limit_display",)
        else:
            limit = ("credit_limit", "reason")
        return (
            (
                None,
                {
                    "fields": (
                        "account_no",
                        "name",
                        "member",
                        "entity",
                        "account_type",
                        "category",
                        "allow_negative",
                        "currency",
                        "status",
                        ("opened_on", "closed_on"),
                    )
                },
            ),
            (
                "Money",
                {
                    "fields": (
                        "balance_display",
                        "frozen_display",
                        "available_display",
                        *limit,
                        "entry_seq",
                        "posting_mode",
                        *self.more_money_fields,
                    )
                },
            ),
            *self.more_fieldsets,
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f for f in flatten_fieldsets(self.get_fieldsets(request, obj)) if f not in self.editable_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = AccountAddForm if obj is None else AccountChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_changeform_initial_data(self, request):
        return {"currency": settings.DEFAULT_CURRENCY, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        actor = request.user.get_username()
        if not change:
            data = form.cleaned_data
            account = account_open(
                entity=data["entity"],
                account_type=data["account_type"],
                member=data["member"],
                currency=data["currency"],
                name=data["name"],
                credit_limit=data["credit_limit"],
            )
            # The admin goes on to log and redirect with the instance it
            # holds, so that instance becomes the opened account.
            obj.pk = account.pk
            obj.refresh_from_db()
            obj._state.adding = False
            return
        # Only the edited columns are written: a full save would put back the
        # balance read when the form loaded over any posting made since.
        if "name" in form.changed_data:
            obj.save(update_fields=["name", "updated_at"])
        if "credit_limit" in form.changed_data:
            account_set_credit_limit(
                account=obj,
                credit_limit=form.cleaned_data["credit_limit"],
                reason=form.cleaned_data["reason"],
                actor=actor,
            )

    @admin.display(description="member", ordering="member__member_no")
    def member_no(self, obj):
        return obj.member.member_no if obj.member else None

    @admin.display(description="entity", ordering="entity__code")
    def entity_code(self, obj):
        return obj.entity.code

    # ------------------------------------------------ status actions ----

    @admin.action(description="Debit block (止付) selected accounts", permissions=["change"])
    def debit_block(self, request, queryset):
        return self.change_status(request, queryset, AccountStatus.DEBIT_BLOCKED)

    @admin.action(description="Credit block (止收) selected accounts", permissions=["change"])
    def credit_block(self, request, queryset):
        return self.change_status(request, queryset, AccountStatus.CREDIT_BLOCKED)

    @admin.action(description="Block (冻结) selected accounts", permissions=["change"])
    def block(self, request, queryset):
        return self.change_status(request, queryset, AccountStatus.BLOCKED)

    @admin.action(description="Unblock selected accounts (back to active)", permissions=["change"])
    def unblock(self, request, queryset):
        return self.change_status(request, queryset, AccountStatus.ACTIVE)

    @admin.action(description="Close (销户) selected accounts", permissions=["change"])
    def close(self, request, queryset):
        return self.change_status(request, queryset, AccountStatus.CLOSED)

    def change_status(self, request, queryset, to_status: AccountStatus):
        """Ask for the reason on a confirmation page, then change each account
        through the service; one refusal does not stop the others."""
        form = StatusChangeForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            changed = 0
            for account in queryset.order_by("id"):
                try:
                    account_change_status(
                        account=account,
                        to_status=to_status,
                        reason=form.cleaned_data["reason"],
                        actor=request.user.get_username(),
                    )
                except LedgerError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    changed += 1
            if changed:
                self.message_user(request, f"{changed} account(s) now {to_status.label}.", messages.SUCCESS)
            return None
        accounts = queryset.order_by("id")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change status to {to_status.label}",
            "opts": self.opts,
            "to_status": to_status,
            "rows": [
                {
                    "account": a,
                    "balance": amount_html(a.balance, a.currency),
                    "frozen": amount_html(a.frozen, a.currency),
                }
                for a in accounts
            ],
            "form": form,
            "action": request.POST["action"],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "changelist_url": request.get_full_path(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/account/change_status.html", context)


@admin.register(AccountStatusChange)
class AccountStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "account_link", "from_status", "to_status", "reason", "changed_by", "created_at")
    list_filter = ("to_status",)
    search_fields = ("account__account_no__exact", "changed_by")
    search_help_text = "Exact account number, or who made the change."
    list_select_related = ("account",)
    show_full_result_count = False

    @admin.display(description="account", ordering="account__account_no")
    def account_link(self, obj):
        return admin_link(obj.account, obj.account.account_no)
