"""FilterSet of the agreements list, all GET."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db import models

from .models import Agreement, AgreementStatus, Frequency

DATE = forms.DateInput(attrs={"type": "date"})


class AgreementFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=AgreementStatus.choices, label="Status", empty_label="any status")
    frequency = filters.ChoiceFilter(choices=Frequency.choices, label="Frequency", empty_label="any")
    account = filters.CharFilter(method="filter_account", label="Payer or payee account")
    agreement_no = filters.CharFilter(field_name="agreement_no", label="Agreement no.")
    purpose = filters.CharFilter(field_name="purpose", label="Purpose")
    source_system = filters.CharFilter(field_name="source_system", label="Signed by system")
    signed_after = filters.DateFilter(
        field_name="created_at__date", lookup_expr="gte", label="Signed from", widget=DATE
    )
    signed_before = filters.DateFilter(field_name="created_at__date", lookup_expr="lte", label="Signed to", widget=DATE)

    class Meta:
        model = Agreement
        fields: list[str] = []

    def filter_account(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(models.Q(payer_account__account_no=value) | models.Q(payee_account__account_no=value))
