"""The staff list of webhook endpoints, filtered (GET)."""

from __future__ import annotations

import django_filters as filters
from django.db.models import Q

from .models import Endpoint
from .selectors import failing_filter

STATES = [
    ("failing", "failing (failures in a row, disabled, or dead letters)"),
    ("paused", "paused by staff"),
    ("disabled", "disabled after failures"),
    ("off", "switched off by the client"),
    ("active", "sending"),
]


class EndpointFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=STATES, method="filter_state", label="Endpoints", empty_label="all")
    client = filters.CharFilter(method="filter_client", label="Client (name or source system)")
    url = filters.CharFilter(field_name="url", lookup_expr="icontains", label="URL contains")

    class Meta:
        model = Endpoint
        fields: list[str] = []

    def filter_state(self, queryset, name, value):
        return {
            "failing": queryset.filter(failing_filter()),
            "paused": queryset.filter(paused_at__isnull=False),
            "disabled": queryset.filter(disabled_at__isnull=False),
            "off": queryset.filter(active=False, disabled_at__isnull=True),
            "active": queryset.filter(active=True, paused_at__isnull=True),
        }[value]

    def filter_client(self, queryset, name, value):
        return queryset.filter(Q(client__name__icontains=value) | Q(client__source_system__icontains=value))
