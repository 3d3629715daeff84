"""FilterSets of the refund pages, all GET."""

from __future__ import annotations

import django_filters as filters
from django import forms

from .models import BusinessType, Refund, RefundStatus

DATE = forms.DateInput(attrs={"type": "date"})


class RefundFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=RefundStatus.choices, label="Status")
    business_type = filters.ChoiceFilter(
        field_name="original__business_type", choices=BusinessType.choices, label="Payment type"
    )
    created_after = filters.DateFilter(field_name="created_at__date", lookup_expr="gte", label="From", widget=DATE)
    created_before = filters.DateFilter(field_name="created_at__date", lookup_expr="lte", label="To", widget=DATE)
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte", label="Amount from")
    amount_max = filters.NumberFilter(field_name="amount", lookup_expr="lte", label="Amount to")
    original = filters.NumberFilter(field_name="original_id", label="Payment (posting no.)", min_value=1)
    request_no = filters.CharFilter(field_name="request_no", label="Request no.")

    class Meta:
        model = Refund
        fields: list[str] = []


class ApprovalQueueFilter(filters.FilterSet):
    needs = filters.ChoiceFilter(
        choices=[("late", "late (past the window)"), ("large", "large (above the approval amount)")],
        method="filter_needs",
        label="Why",
    )
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte", label="Amount from")

    class Meta:
        model = Refund
        fields: list[str] = []

    def filter_needs(self, queryset, name, value):
        return queryset.filter(needs_approval__contains=value)
