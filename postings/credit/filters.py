"""FilterSets of the credit pages (django-filter), all GET."""

from __future__ import annotations

import django_filters as filters
from django import forms

from .models import Bill

DATE = forms.DateInput(attrs={"type": "date"})


class BillFilter(filters.FilterSet):
    member = filters.CharFilter(field_name="account__member__member_no", label="Member no.")
    account = filters.CharFilter(field_name="account__account_no", label="Credit line (account no.)")
    billing_date = filters.DateFilter(field_name="billing_date", label="Billing day", widget=DATE)
    billed_after = filters.DateFilter(field_name="billing_date", lookup_expr="gte", label="Billed from", widget=DATE)
    billed_before = filters.DateFilter(field_name="billing_date", lookup_expr="lte", label="Billed to", widget=DATE)
    due_min = filters.NumberFilter(field_name="amount_due", lookup_expr="gte", label="Amount due from")

    class Meta:
        model = Bill
        fields: list[str] = []


class OverdueFilter(forms.Form):
    """The overdue list is computed (what each bill still asks for), not a
    queryset: a plain form, rendered like the FilterSets' forms."""

    min_days = forms.IntegerField(label="Days overdue, at least", min_value=0, required=False)
    member = forms.CharField(label="Member no.", max_length=32, required=False)

    @property
    def form(self):
        return self
