"""Admin for browsing the ledger: postings, entries, holds and hold events,
plus the posting rules finance configures.

Postings, entries, holds and hold events are history written only by
``postings.services``; here they can be looked at, never added, changed or
deleted, whatever a user's permissions (superusers included). The account
admin's ledger parts (entries, holds, pending entries, hot-account switches)
are in ``postings/account_admin.py``; the helpers every app's admin shares
are in the kernel (``accounts.kernel.admin``) and still named here.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.contrib import admin
from django.contrib.admin.options import ShowFacets
from django.core.exceptions import ValidationError
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.kernel.admin import (  # noqa: F401 (shared helpers, named here for other admins)
    GovernedAdminMixin,
    LedgerErrorMessagesMixin,
    ReadOnlyAdminMixin,
    admin_link,
    changelist_url,
    money,
    money_column,
)
from accounts.models import Account

from . import account_admin  # noqa: F401 (registers the account pages with their ledger parts)
from .credit import admin as credit_admin  # noqa: F401 (registers the credit product's admin)
from .expressions import rule_balance_problem
from .models import (
    AccountingCalendar,
    AccountingDay,
    Entry,
    Hold,
    HoldEvent,
    MerchantReserve,
    Posting,
    PostingRule,
    PostingRuleLeg,
    RefundPolicy,
)

# ------------------------------------------------------------- helpers ----

BIGINT_MAX = 2**63 - 1


class SerialNoSearchMixin:
    """Search also finds a row by its serial number, the integer primary key.

    Django's ``=serial_no`` crashes on a term that is not a number, and
    ``serial_no__exact`` casts every key to text (a full scan of the largest
    tables), so a term that is a whole number is matched on the key index
    instead. ``serial_prefix`` accepts the form ``__str__`` shows (P42, E7).
    """

    serial_prefix = ""

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        serial_no = self._serial_no(search_term)
        if serial_no is not None:
            results |= queryset.filter(pk=serial_no)
        return results, may_have_duplicates

    def _serial_no(self, term: str) -> int | None:
        term = term.strip()
        if self.serial_prefix and term[:1].upper() == self.serial_prefix:
            term = term[1:]
        if term.isascii() and term.isdigit() and int(term) <= BIGINT_MAX:
            return int(term)
        return None


class DateRangeFilter(admin.FieldListFilter):
    """From / to (both inclusive) on a date field, as two date inputs.

    Django's own date filter offers only today, the past 7 days and this
    month or year; finance works in arbitrary periods (a reconciliation
    window, a month-end). The query string is ``<field>__gte`` and
    ``<field>__lte`` in ISO dates, so such links can be written by hand too.
    A date that does not parse is ignored rather than failing the page.
    """

    template = "admin/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        # On a timestamp, compare its date: "until the 3rd" includes the 3rd.
        path = f"{field_path}__date" if isinstance(field, models.DateTimeField) else field_path
        self.lookup_since = f"{path}__gte"
        self.lookup_until = f"{path}__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.since = self._date(self.lookup_since)
        self.until = self._date(self.lookup_until)

    def _date(self, param: str) -> date | None:
        values = self.used_parameters.get(param)
        if not values:
            return None
        try:
            return forms.DateField(required=False).clean(values[-1])
        except ValidationError:
            return None

    def expected_parameters(self):
        return [self.lookup_since, self.lookup_until]

    def queryset(self, request, queryset):
        if self.since:
            queryset = queryset.filter(**{self.lookup_since: self.since})
        if self.until:
            queryset = queryset.filter(**{self.lookup_until: self.until})
        return queryset

    def get_facet_counts(self, pk_attname, filtered_qs):
        return {}

    def choices(self, changelist):
        mine = self.expected_parameters()
        yield {
            "selected": bool(self.since or self.until),
            "clear_query_string": changelist.get_query_string(remove=mine),
            # The other filters, search and ordering in force, kept by the form.
            "hidden": [(k, v) for k, v in changelist.params.items() if k not in mine],
        }


class ExactTextFilter(admin.SimpleListFilter):
    """One field matched exactly, typed into a box (a trade number): there is
    no list of choices to offer, and an exact match uses the field's index.
    Subclasses name ``title`` and ``parameter_name`` (the field)."""

    template = "admin/exact_text_filter.html"

    def lookups(self, request, model_admin):
        return []

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset

    def get_facet_counts(self, pk_attname, filtered_qs):
        return {}

    def choices(self, changelist):
        mine = [self.parameter_name]
        yield {
            "selected": bool(self.value()),
            "value": self.value() or "",
            "clear_query_string": changelist.get_query_string(remove=mine),
            # The other filters, search and ordering in force, kept by the form.
            "hidden": [(k, v) for k, v in changelist.params.items() if k not in mine],
        }


class TradeNoFilter(ExactTextFilter):
    title = "trade number"
    parameter_name = "trade_no"


@admin.display(description="metadata")
def metadata_display(obj) -> str:
    """The caller's metadata, one key a line, keys in order."""
    if not obj.metadata:
        return "—"
    return format_html(
        "<pre style='margin:0;white-space:pre-wrap'>{}</pre>",
        "\n".join(f"{key}: {value}" for key, value in sorted(obj.metadata.items())),
    )


class AccountFilter(admin.SimpleListFilter):
    """The account a list was opened for (``?account__id__exact=``, from the
    account page). Offering every account as a choice would not scale; the
    only choice shown is the one in use, and search by account number finds
    the others."""

    title = "account"
    parameter_name = "account__id__exact"

    def lookups(self, request, model_admin):
        value = self.value()
        if value and value.isdigit():
            account = Account.objects.filter(pk=value).only("account_no", "name").first()
            if account is not None:
                return [(str(account.pk), f"{account.account_no} {account.name}")]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(account_id=value)


# Big append-only tables: no facet counts, no unfiltered count(*) per page.
class LedgerTableAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    show_full_result_count = False
    show_facets = ShowFacets.NEVER


# ------------------------------------------------------------- entries ----


@admin.register(Entry)
class EntryAdmin(SerialNoSearchMixin, LedgerTableAdmin):
    serial_prefix = "E"
    list_display = (
        "serial_no",
        "accounting_date",
        "account_link",
        "direction",
        "currency",
        "amount_display",
        "balance_before_display",
        "balance_after_display",
        "business_type",
        "posting_link",
    )
    lists_currency = True
    list_filter = (
        AccountFilter,
        ("accounting_date", DateRangeFilter),
        "account__account_type",
        "account__entity",
        "business_type",
        "direction",
    )
    # Exact matches use the indexes; serial numbers come from SerialNoSearchMixin.
    search_fields = ("account__account_no__exact", "posting__request_no__exact")
    search_help_text = "Exact account number, entry serial number (E123) or request number."
    list_select_related = ("account", "posting")
    fields = readonly_fields = (
        "serial_no",
        "posting_link",
        "account_link",
        "account_seq",
        "direction",
        "currency",
        "amount_display",
        "balance_before_display",
        "balance_after_display",
        "frozen_before_display",
        "frozen_after_display",
        "business_type",
        "accounting_date",
        "created_at",
    )

    amount_display = money_column("amount", "amount")
    balance_before_display = money_column("balance_before", "balance before")
    balance_after_display = money_column("balance_after", "balance after")
    frozen_before_display = money_column("frozen_before", "frozen before")
    frozen_after_display = money_column("frozen_after", "frozen after")

    @admin.display(description="account", ordering="account__account_no")
    def account_link(self, obj):
        return admin_link(obj.account, obj.account.account_no)

    @admin.display(description="posting", ordering="posting_id")
    def posting_link(self, obj):
        return admin_link(obj.posting)


# ------------------------------------------------------------ postings ----


class EntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Entry
    extra = 0
    show_change_link = True
    fields = readonly_fields = (
        "account_link",
        "account_seq",
        "direction",
        "amount_display",
        "balance_before_display",
        "balance_after_display",
    )
    ordering = ("serial_no",)
    lists_currency = True  # the posting's, shown above

    amount_display = EntryAdmin.amount_display
    balance_before_display = EntryAdmin.balance_before_display
    balance_after_display = EntryAdmin.balance_after_display
    account_link = EntryAdmin.account_link

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(Posting)
class PostingAdmin(SerialNoSearchMixin, LedgerTableAdmin):
    serial_prefix = "P"
    list_display = (
        "serial_no",
        "accounting_date",
        "business_type",
        "request_no",
        "source_system",
        "entity",
        "trade_no",
        "memo",
        "reverses_link",
        "reversed_by_link",
    )
    list_filter = (
        TradeNoFilter,
        "business_type",
        "entity",
        ("accounting_date", DateRangeFilter),
        "source_system",
    )
    search_fields = ("request_no__exact", "external_ref__exact", "trade_no__exact")
    search_help_text = "Exact request number, posting serial number (P123), external reference or trade number."
    list_select_related = ("entity", "reverses", "reversed_by")
    fields = readonly_fields = (
        "serial_no",
        "business_type",
        "request_no",
        "source_system",
        "entity",
        "currency",
        "accounting_date",
        "corrects_date",
        "memo",
        "external_ref",
        "trade_no",
        "metadata_display",
        "posted_by",
        "rule_version_link",
        "reverses_link",
        "reversed_by_link",
        "created_at",
        "receipt_link",
    )
    inlines = (EntryInline,)
    metadata_display = staticmethod(metadata_display)

    @admin.display(description="electronic receipt (电子回单)")
    def receipt_link(self, obj):
        return format_html(
            '<a href="{}">Download PDF</a> · <a href="{}">staff page</a>',
            reverse("postings:receipt", args=[obj.serial_no]),
            reverse("postings:posting", args=[obj.serial_no]),
        )

    @admin.display(description="posting rule version")
    def rule_version_link(self, obj):
        # The rule's history, where the auditor reads what that version said.
        if obj.rule_version is None:
            return "— (legs given by the caller)"
        rule = PostingRule.objects.filter(business_type=obj.business_type).first()
        if rule is None:
            return f"v{obj.rule_version}"
        url = reverse("admin:postings_postingrule_history", args=[rule.pk])
        return format_html('<a href="{}">v{} of {}</a>', url, obj.rule_version, rule)

    @admin.display(description="reverses")
    def reverses_link(self, obj):
        return admin_link(obj.reverses)

    @admin.display(description="reversed by")
    def reversed_by_link(self, obj):
        return admin_link(getattr(obj, "reversed_by", None))


# --------------------------------------------------------------- holds ----


class HoldEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = HoldEvent
    extra = 0
    fields = readonly_fields = (
        "kind",
        "amount_display",
        "posting_link",
        "frozen_before_display",
        "frozen_after_display",
        "request_no",
        "actor",
        "created_at",
    )

    lists_currency = True  # the hold's, shown above

    amount_display = money_column("amount", "amount", currency="hold.account.currency")
    frozen_before_display = money_column("frozen_before", "account frozen before", currency="hold.account.currency")
    frozen_after_display = money_column("frozen_after", "account frozen after", currency="hold.account.currency")

    @admin.display(description="posting")
    def posting_link(self, obj):
        return admin_link(obj.posting)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("hold__account", "posting")


@admin.register(Hold)
class HoldAdmin(LedgerTableAdmin):
    list_display = (
        "id",
        "account_link",
        "currency",
        "amount_display",
        "remaining_display",
        "status",
        "reason",
        "request_no",
        "trade_no",
        "expires_at",
        "created_at",
    )
    lists_currency = True
    list_filter = (AccountFilter, TradeNoFilter, "status")
    search_fields = ("account__account_no__exact", "request_no__exact", "trade_no__exact")
    search_help_text = "Exact account number, request number or trade number."
    list_select_related = ("account",)
    fields = readonly_fields = (
        "id",
        "account_link",
        "currency",
        "amount_display",
        "remaining_display",
        "status",
        "reason",
        "source_system",
        "request_no",
        "trade_no",
        "metadata_display",
        "expires_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    inlines = (HoldEventInline,)
    metadata_display = staticmethod(metadata_display)

    amount_display = money_column("amount", "amount", currency="account.currency")
    remaining_display = money_column("remaining", "remaining", currency="account.currency")
    account_link = EntryAdmin.account_link

    @admin.display(description="currency", ordering="account__currency")
    def currency(self, obj):
        return obj.account.currency


@admin.register(HoldEvent)
class HoldEventAdmin(LedgerTableAdmin):
    list_display = ("id", "hold_link", "kind", "amount_display", "posting_link", "actor", "created_at")
    list_filter = ("kind",)
    search_fields = ("hold__account__account_no__exact", "request_no__exact")
    search_help_text = "Exact account number or request number."
    list_select_related = ("hold__account", "posting")
    fields = readonly_fields = (
        "id",
        "hold_link",
        "kind",
        "amount_display",
        "posting_link",
        "frozen_before_display",
        "frozen_after_display",
        "source_system",
        "request_no",
        "actor",
        "created_at",
    )

    amount_display = HoldEventInline.amount_display
    frozen_before_display = HoldEventInline.frozen_before_display
    frozen_after_display = HoldEventInline.frozen_after_display
    posting_link = HoldEventInline.posting_link

    @admin.display(description="hold", ordering="hold_id")
    def hold_link(self, obj):
        return admin_link(obj.hold)


# ------------------------------------------------------- posting rules ----


class PostingRuleLegFormSet(BaseInlineFormSet):
    """The legs of a rule must balance for every input, on the form already
    (the proposal and the approval check it again)."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        legs = [
            (form.cleaned_data["direction"], form.cleaned_data["amount_expr"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        problem = rule_balance_problem(legs)
        if problem:
            raise ValidationError(problem)

    def proposed_legs(self) -> list[dict]:
        return [
            {
                "position": form.cleaned_data["position"],
                "direction": form.cleaned_data["direction"],
                "account_param": form.cleaned_data["account_param"],
                "internal_account_type": getattr(form.cleaned_data["internal_account_type"], "pk", None),
                "amount_expr": form.cleaned_data["amount_expr"],
            }
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


class PostingRuleLegInline(admin.TabularInline):
    model = PostingRuleLeg
    formset = PostingRuleLegFormSet
    extra = 0
    fields = ("position", "direction", "account_param", "internal_account_type", "amount_expr")


@admin.register(PostingRule)
class PostingRuleAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ("business_type", "description", "active", "version", "legs_summary")
    list_filter = ("active",)
    inlines = (PostingRuleLegInline,)

    @admin.display(description="legs")
    def legs_summary(self, obj):
        return "; ".join(str(leg) for leg in obj.legs.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("legs__internal_account_type")

    def proposed_values(self, request, form, formsets):
        legs = next(formset for formset in formsets if isinstance(formset, PostingRuleLegFormSet))
        form.instance.proposed_legs = legs.proposed_legs()
        return super().proposed_values(request, form, formsets)


# ------------------------------------------------------------- refunds ----


@admin.register(RefundPolicy)
class RefundPolicyAdmin(GovernedAdminMixin, admin.ModelAdmin):
    """Refund window, rounding and approval amount per business type: a save
    proposes the change, another ledger admin approves it."""

    list_display = ("business_type", "window_days", "rounding", "approval_above")


@admin.register(MerchantReserve)
class MerchantReserveAdmin(GovernedAdminMixin, admin.ModelAdmin):
    list_display = ("account", "reserve_account")
    raw_id_fields = ("account", "reserve_account")
    search_fields = ("account__account_no__exact", "reserve_account__account_no__exact")


# ------------------------------------------------------------ calendar ----


@admin.register(AccountingCalendar)
class AccountingCalendarAdmin(admin.ModelAdmin):
    """Finance sets the cut time; only the day cut moves the open day."""

    list_display = ("entity", "open_date", "cut_time", "next_cut", "updated_at")
    fields = ("entity", "open_date", "cut_time", "next_cut")
    readonly_fields = ("entity", "open_date", "next_cut")

    @admin.display(description="next cut")
    def next_cut(self, obj):
        return timezone.localtime(obj.cut_moment()).strftime("%Y-%m-%d %H:%M %Z")

    def has_add_permission(self, request):
        return False  # opened by the first posting of an entity

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccountingDay)
class AccountingDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("date", "entity", "status", "opened_at", "cut_at", "closed_at")
    list_filter = ("entity", "status")
    date_hierarchy = "date"
