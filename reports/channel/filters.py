"""FilterSets of the channel reconciliation pages (read-only, GET).

The differences list opens on the unresolved ones: that is the work queue.
The amount filter is on the size of the difference (channel minus ledger,
either sign), which is how finance sorts a short from a rounding error.
"""

from __future__ import annotations

import django_filters as filters
from django.db.models.functions import Abs

from ..filters import DATE, _DateRangeFilter
from .models import Channel, Difference, DifferenceStatus, Outcome, ReconRun
from .selectors import difference_workers

UNRESOLVED = "unresolved"


class _DayRange(_DateRangeFilter):
    """Channel and statement days, any span: differences are worked for as long as they take."""

    channel = filters.ModelChoiceFilter(
        queryset=Channel.objects.order_by("code"), to_field_name="code", label="Channel", empty_label="all channels"
    )
    date_from = filters.DateFilter(field_name="recon_date", lookup_expr="gte", label="Day from", widget=DATE)
    date_to = filters.DateFilter(field_name="recon_date", lookup_expr="lte", label="Day to", widget=DATE)
    max_days = None


class ReconRunFilter(_DayRange):
    class Meta:
        model = ReconRun
        fields = ["channel", "date_from", "date_to"]


class DifferenceFilter(_DayRange):
    outcome = filters.ChoiceFilter(choices=Outcome.choices, empty_label="any outcome")
    status = filters.ChoiceFilter(
        choices=[(UNRESOLVED, "unresolved (open or investigating)"), *DifferenceStatus.choices],
        empty_label="any status",
        method="filter_status",
    )
    owner = filters.ModelChoiceFilter(
        queryset=difference_workers(),
        to_field_name="username",
        null_label="— nobody —",
        empty_label="anyone",
        label="Owner",
    )
    amount_min = filters.NumberFilter(label="|Difference| ≥", method="filter_amount_min", min_value=0)
    amount_max = filters.NumberFilter(label="|Difference| ≤", method="filter_amount_max", min_value=0)
    serial_no = filters.CharFilter(lookup_expr="icontains", label="Serial no.")

    class Meta:
        model = Difference
        fields = [
            "channel",
            "date_from",
            "date_to",
            "outcome",
            "status",
            "owner",
            "amount_min",
            "amount_max",
            "serial_no",
        ]

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and "status" not in data:
            data = data.copy()
            data["status"] = UNRESOLVED
        super().__init__(data, *args, **kwargs)

    def filter_status(self, queryset, name, value):
        if value == UNRESOLVED:
            return queryset.exclude(status=DifferenceStatus.RESOLVED)
        return queryset.filter(status=value)

    def filter_amount_min(self, queryset, name, value):
        return queryset.alias(size=Abs("difference")).filter(size__gte=value)

    def filter_amount_max(self, queryset, name, value):
        return queryset.alias(size=Abs("difference")).filter(size__lte=value)
