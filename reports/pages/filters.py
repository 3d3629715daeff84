"""FilterSets of the read-only report pages, all GET.

A page opened without dates shows the latest day that has rows; ``date_to``
defaults to ``date_from`` and the reverse, so one date means one day.
"""

from __future__ import annotations

import django_filters as filters
from django import forms

from accounts.models import Category, Entity
from postings.models import BusinessType, Direction, Entry

from ..eod.models import BalanceSheetRow, CheckResult
from ..filters import DATE, _currency_choices, _DateRangeFilter, _type_choices
from .selectors import GROUP_LABELS, balance_sheet_rows_where


class BalanceSheetFilter(_DateRangeFilter):
    group_by = filters.ChoiceFilter(
        choices=list(GROUP_LABELS.items()), method="keep", label="Group by", empty_label=None
    )
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency")
    category = filters.ChoiceFilter(choices=Category.choices, label="Category")
    account_type = filters.ChoiceFilter(field_name="account_type_code", choices=_type_choices, label="Account type")
    subject_code = filters.CharFilter(
        field_name="subject_code", label="Subject code", widget=forms.TextInput(attrs={"size": 8})
    )
    account_no = filters.CharFilter(
        field_name="account__account_no", label="Account no.", widget=forms.TextInput(attrs={"size": 16})
    )

    class Meta:
        model = BalanceSheetRow
        fields: list[str] = []

    def keep(self, queryset, name, value):
        return queryset

    def criteria(self) -> dict:
        """The valid form as plain values (``selectors.balance_sheet_rows_where``),
        which an export task keeps and applies later."""
        data = self.form.cleaned_data
        return {
            "date_from": data["date_from"].isoformat() if data.get("date_from") else "",
            "date_to": data["date_to"].isoformat() if data.get("date_to") else "",
            "entity": data["entity"].code if data.get("entity") else "",
            "currency": data.get("currency") or "",
            "category": data.get("category") or "",
            "account_type": data.get("account_type") or "",
            "subject_code": data.get("subject_code") or "",
            "account_no": data.get("account_no") or "",
        }

    def filter_queryset(self, queryset):
        # One home for what each criterion means: the selector, which the export task applies too.
        return balance_sheet_rows_where(queryset, **self.criteria())

    @property
    def grouping(self) -> str:
        value = self.form.cleaned_data.get("group_by") if self.is_valid() else None
        return value or "account"


class CheckResultFilter(_DateRangeFilter):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    check_name = filters.CharFilter(field_name="check_name", label="Check", widget=forms.TextInput(attrs={"size": 14}))
    passed = filters.BooleanFilter(
        field_name="passed",
        label="Result",
        widget=forms.Select(choices=[("", "all"), ("false", "failed"), ("true", "passed")]),
    )

    class Meta:
        model = CheckResult
        fields: list[str] = []


class EntryFilter(filters.FilterSet):
    """An account's entries."""

    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)
    direction = filters.ChoiceFilter(choices=Direction.choices, label="Direction")
    business_type = filters.ChoiceFilter(choices=BusinessType.choices, label="Business type")
    request_no = filters.CharFilter(field_name="posting__request_no", label="Request no.")

    class Meta:
        model = Entry
        fields: list[str] = []


class ChartFilter(filters.FilterSet):
    """The chart page: one entity and currency, 90 days up to ``end``."""

    entity = filters.ModelChoiceFilter(
        queryset=Entity.objects.order_by("code"), label="Entity", method="keep", empty_label=None
    )
    # Empty: the entity's own (base) currency, so changing the entity changes it.
    currency = filters.ChoiceFilter(
        choices=_currency_choices, label="Currency", method="keep", empty_label="the entity's own"
    )
    end = filters.DateFilter(label="Last day", method="keep", widget=DATE)

    class Meta:
        model = BalanceSheetRow
        fields: list[str] = []

    def keep(self, queryset, name, value):
        return queryset
