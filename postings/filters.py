"""FilterSets of the refund and guarantee order pages, all GET."""

from __future__ import annotations

from datetime import timedelta

import django_filters as filters
from django import forms
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from .models import (
    OPEN_ORDER_STATUSES,
    BusinessType,
    Correction,
    CorrectionStatus,
    GuaranteeOrder,
    MonthlyStatement,
    OrderStatus,
    Refund,
    RefundStatus,
)

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


# The order list's views: the tabs of the page are these values.
ORDER_STATES = [
    ("open", "open (paid or disputed)"),
    ("paid", "paid, awaiting confirmation"),
    ("disputed", "disputed"),
    ("expiring", "expiring soon (confirmed automatically within the days below)"),
    ("confirmed", "confirmed"),
    ("refunded", "refunded in full"),
]


class OrderFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=ORDER_STATES, method="filter_state", label="Orders", empty_label="all")
    within_days = filters.NumberFilter(
        method="filter_nothing", label="Expiring within (days)", min_value=1, max_value=365
    )
    order_no = filters.CharFilter(field_name="order_no", label="Order no.")
    account = filters.CharFilter(method="filter_account", label="Buyer or merchant account")
    created_after = filters.DateFilter(field_name="created_at__date", lookup_expr="gte", label="From", widget=DATE)
    created_before = filters.DateFilter(field_name="created_at__date", lookup_expr="lte", label="To", widget=DATE)
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte", label="Amount from")
    amount_max = filters.NumberFilter(field_name="amount", lookup_expr="lte", label="Amount to")

    class Meta:
        model = GuaranteeOrder
        fields: list[str] = []

    def filter_state(self, queryset, name, value):
        if value == "open":
            return queryset.filter(status__in=OPEN_ORDER_STATUSES)
        if value == "expiring":
            days = self.form.cleaned_data.get("within_days") or 2
            return queryset.filter(
                status=OrderStatus.PAID, confirm_by__lte=timezone.now() + timedelta(days=int(days))
            ).order_by("confirm_by", "id")
        return queryset.filter(status=value)

    def filter_nothing(self, queryset, name, value):
        return queryset  # read by filter_state

    def filter_account(self, queryset, name, value):
        return queryset.filter(
            models.Q(buyer_account__account_no=value.strip()) | models.Q(merchant_account__account_no=value.strip())
        )


class CorrectionFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=CorrectionStatus.choices, label="Status", empty_label="any status")
    original = filters.NumberFilter(field_name="original_id", label="Posting (P)")

    class Meta:
        model = Correction
        fields: list[str] = []


class MonthlyStatementFilter(filters.FilterSet):
    member = filters.CharFilter(method="filter_member", label="Member (no. or name)")
    month = filters.CharFilter(
        method="filter_month",
        label="Month",
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2026-11"}),
        validators=[RegexValidator(r"^[0-9]{4}-(0[1-9]|1[0-2])$", "A month as YYYY-MM.")],
    )
    account = filters.CharFilter(field_name="account__account_no", label="Account no.")

    class Meta:
        model = MonthlyStatement
        fields: list[str] = []

    def filter_member(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            models.Q(account__member__member_no=value) | models.Q(account__member__name__icontains=value)
        )

    def filter_month(self, queryset, name, value):
        return queryset.filter(month=f"{value}-01")
