"""FilterSets of the settlement pages, all GET."""

from __future__ import annotations

import django_filters as filters
from django import forms

from ..channel.models import Channel
from .models import ChannelSettlement, MerchantSettlement, SettledEntry, SettlementTerm

DATE = forms.DateInput(attrs={"type": "date"})


class TermFilter(filters.FilterSet):
    account = filters.CharFilter(field_name="account__account_no", label="Merchant account")
    member = filters.CharFilter(field_name="account__member__name", lookup_expr="icontains", label="Merchant name")
    days = filters.NumberFilter(field_name="days", label="T+N", min_value=1)

    class Meta:
        model = SettlementTerm
        fields: list[str] = []


class MerchantSettlementFilter(filters.FilterSet):
    account = filters.CharFilter(field_name="account__account_no", label="Merchant account")
    settled_after = filters.DateFilter(field_name="settled_on", lookup_expr="gte", label="Settled from", widget=DATE)
    settled_before = filters.DateFilter(field_name="settled_on", lookup_expr="lte", label="Settled to", widget=DATE)
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte", label="Amount from")

    class Meta:
        model = MerchantSettlement
        fields: list[str] = []


class ChannelSettlementFilter(filters.FilterSet):
    channel = filters.ModelChoiceFilter(queryset=Channel.objects.order_by("code"), label="Channel")
    cut_after = filters.DateFilter(field_name="cut_off__date", lookup_expr="gte", label="Cut-off from", widget=DATE)
    cut_before = filters.DateFilter(field_name="cut_off__date", lookup_expr="lte", label="Cut-off to", widget=DATE)

    class Meta:
        model = ChannelSettlement
        fields: list[str] = []


class CoveredEntryFilter(filters.FilterSet):
    serial = filters.CharFilter(field_name="entry__posting__external_ref", label="Channel serial no.")
    direction = filters.ChoiceFilter(
        field_name="entry__direction", choices=[("D", "in (Dr clearing)"), ("C", "out (Cr clearing)")], label="Way"
    )
    no_fee_line = filters.BooleanFilter(
        field_name="statement_line_id", lookup_expr="isnull", label="Without a statement line"
    )

    class Meta:
        model = SettledEntry
        fields: list[str] = []


class ReserveDayFilter(forms.Form):
    day = forms.DateField(label="Day", widget=DATE, required=False)
