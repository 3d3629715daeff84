"""FilterSet of the end-of-day runs page."""

from __future__ import annotations

import django_filters as filters

from accounts.models import Entity

from ..filters import DATE
from .models import EodRun, RunStatus


class EodRunFilter(filters.FilterSet):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    status = filters.ChoiceFilter(choices=RunStatus.choices, label="Status")
    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)

    class Meta:
        model = EodRun
        fields: list[str] = []
