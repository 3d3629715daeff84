"""FilterSets of the voucher pages (all GET)."""

from __future__ import annotations

import django_filters as filters
from django import forms

from accounts.models import Entity
from postings.models import BusinessType, Entry

from ..filters import DATE, _currency_choices, _DateRangeFilter
from .models import ExportFormat, Voucher, VoucherExport, VoucherKind, VoucherStatus


class VoucherFilter(_DateRangeFilter):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    status = filters.ChoiceFilter(choices=VoucherStatus.choices, label="Status")
    kind = filters.ChoiceFilter(choices=VoucherKind.choices, label="Kind")
    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency")
    business_type = filters.ChoiceFilter(
        choices=BusinessType.choices, label="Business type", method="with_business_type"
    )
    subject_code = filters.CharFilter(
        label="Subject code", method="with_subject", widget=forms.TextInput(attrs={"size": 8})
    )
    number = filters.NumberFilter(field_name="number", label="Number")
    gl_voucher_no = filters.CharFilter(
        field_name="gl_voucher_no", label="GL voucher no.", widget=forms.TextInput(attrs={"size": 12})
    )

    class Meta:
        model = Voucher
        fields: list[str] = []

    def with_business_type(self, queryset, name, value):
        return queryset.filter(pk__in=Voucher.objects.filter(lines__business_type=value).values("pk"))

    def with_subject(self, queryset, name, value):
        return queryset.filter(pk__in=Voucher.objects.filter(lines__subject_code=value.strip()).values("pk"))


class LineEntryFilter(filters.FilterSet):
    account_no = filters.CharFilter(field_name="account__account_no", label="Account no.")
    request_no = filters.CharFilter(field_name="posting__request_no", label="Request no.")

    class Meta:
        model = Entry
        fields: list[str] = []


class VoucherExportFilter(filters.FilterSet):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    format = filters.ChoiceFilter(choices=ExportFormat.choices, label="Layout")
    day = filters.DateFilter(label="Covers the day", method="covering", widget=DATE)
    created_by = filters.CharFilter(field_name="created_by__username", label="Exported by")

    class Meta:
        model = VoucherExport
        fields: list[str] = []

    def covering(self, queryset, name, value):
        return queryset.filter(date_from__lte=value, date_to__gte=value)
