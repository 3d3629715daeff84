"""FilterSet of the periods page (GET)."""

from __future__ import annotations

import django_filters as filters

from accounts.models import Entity

from .models import AccountingPeriod, PeriodKind, PeriodStatus


class PeriodFilter(filters.FilterSet):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    kind = filters.ChoiceFilter(choices=PeriodKind.choices, label="Kind")
    status = filters.ChoiceFilter(choices=PeriodStatus.choices, label="Status")

    class Meta:
        model = AccountingPeriod
        fields: list[str] = []
