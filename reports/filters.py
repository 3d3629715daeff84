"""FilterSets of the report pages, all read-only (GET).

A page opened without dates shows the latest day that has rows; ``date_to``
defaults to ``date_from`` and the reverse, so one date means one day.
"""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.conf import settings

from accounts.models import AccountType, Category, Entity
from postings.models import BusinessType, Direction, Entry

from .models import CheckResult, DailyBalance, EodRun, GlImport, GlImportRow, RunStatus, Voucher
from .selectors import GROUP_LABELS

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _currency_choices():
    return [(c, c) for c in settings.CURRENCIES]


def _type_choices():
    return [(t.code, f"{t.code} ({t.subject_code})") for t in AccountType.objects.order_by("code")]


def with_default_dates(data, latest):
    """The query string with ``date_from``/``date_to`` filled in: a missing
    one takes the other, both missing take ``latest`` (a date or None)."""
    data = data.copy()
    date_from, date_to = data.get("date_from", ""), data.get("date_to", "")
    if not date_from and not date_to and latest is not None:
        date_from = date_to = latest.isoformat()
    data["date_from"] = date_from or date_to
    data["date_to"] = date_to or date_from
    return data


class _DateRangeFilter(filters.FilterSet):
    """``date_from``/``date_to`` on ``accounting_date`` (a subclass may
    redeclare them on another field), checked as a range of at most
    ``max_days`` (None: any length)."""

    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)
    max_days: int | None = 366

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.clean = self._clean_range

    def _clean_range(self):
        data = forms.Form.clean(self.form)
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError("The first date is after the last one.")
        if date_from and date_to and self.max_days is not None and (date_to - date_from).days > self.max_days:
            raise forms.ValidationError("Choose at most a year.")
        return data


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
        model = DailyBalance
        fields: list[str] = []

    def keep(self, queryset, name, value):
        return queryset

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


class VoucherFilter(_DateRangeFilter):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency")
    subject_code = filters.CharFilter(
        field_name="subject_code", label="Subject code", widget=forms.TextInput(attrs={"size": 8})
    )
    direction = filters.ChoiceFilter(choices=Direction.choices, label="Direction")
    business_type = filters.ChoiceFilter(choices=BusinessType.choices, label="Business type")
    voucher_no = filters.CharFilter(
        field_name="voucher_no", label="Voucher no.", widget=forms.TextInput(attrs={"size": 14})
    )

    class Meta:
        model = Voucher
        fields: list[str] = []


class GlImportFilter(filters.FilterSet):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)
    file_name = filters.CharFilter(field_name="file_name", lookup_expr="icontains", label="File name")

    class Meta:
        model = GlImport
        fields: list[str] = []


class GlDifferenceFilter(filters.FilterSet):
    """The differences of one GL import. They are computed per subject and
    currency from both sides (``selectors.gl_differences``), so the page
    applies ``keep`` to that list; the form is the usual one."""

    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency", empty_label="all")
    subject_code = filters.CharFilter(lookup_expr="startswith", label="Subject code starts with")

    class Meta:
        model = GlImportRow
        fields: list[str] = []

    def keep(self, differences: list) -> list:
        if not self.is_bound:
            return differences
        if not self.is_valid():
            return []
        currency = self.form.cleaned_data.get("currency")
        subject = (self.form.cleaned_data.get("subject_code") or "").strip()
        return [
            d for d in differences if (not currency or d.currency == currency) and d.subject_code.startswith(subject)
        ]


class EodRunFilter(filters.FilterSet):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    status = filters.ChoiceFilter(choices=RunStatus.choices, label="Status")
    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)

    class Meta:
        model = EodRun
        fields: list[str] = []


class EntryFilter(filters.FilterSet):
    """An account's or a voucher's entries."""

    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)
    direction = filters.ChoiceFilter(choices=Direction.choices, label="Direction")
    business_type = filters.ChoiceFilter(choices=BusinessType.choices, label="Business type")
    request_no = filters.CharFilter(field_name="posting__request_no", label="Request no.")

    class Meta:
        model = Entry
        fields: list[str] = []


class VoucherEntryFilter(filters.FilterSet):
    account_no = filters.CharFilter(field_name="account__account_no", label="Account no.")
    request_no = filters.CharFilter(field_name="posting__request_no", label="Request no.")

    class Meta:
        model = Entry
        fields: list[str] = []


class ChartFilter(filters.FilterSet):
    """The chart page: one entity and currency, 90 days up to ``end``."""

    entity = filters.ModelChoiceFilter(
        queryset=Entity.objects.order_by("code"), label="Entity", method="keep", empty_label=None
    )
    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency", method="keep", empty_label=None)
    end = filters.DateFilter(label="Last day", method="keep", widget=DATE)

    class Meta:
        model = DailyBalance
        fields: list[str] = []

    def keep(self, queryset, name, value):
        return queryset
