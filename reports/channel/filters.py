"""FilterSets of the channel reconciliation pages (read-only, GET).

The differences list opens on the unresolved ones: that is the work queue.
The amount filter is on the size of the difference (channel minus ledger,
either sign), which is how finance sorts a short from a rounding error.
"""

from __future__ import annotations

import django_filters as filters

from ..filters import DATE, _DateRangeFilter
from .models import Channel, Difference, DifferenceStatus, Outcome, ReconRun
from .selectors import UNRESOLVED, difference_workers, differences_where


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
    )
    owner = filters.ModelChoiceFilter(
        queryset=difference_workers(),
        to_field_name="username",
        null_label="— nobody —",
        empty_label="anyone",
        label="Owner",
    )
    amount_min = filters.NumberFilter(label="|Difference| ≥", min_value=0)
    amount_max = filters.NumberFilter(label="|Difference| ≤", min_value=0)
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

    def criteria(self) -> dict:
        """The valid form as plain values (``selectors.differences_where``),
        which an export task keeps and applies later."""
        data = self.form.cleaned_data
        owner = data.get("owner")
        return {
            "channel": data["channel"].code if data.get("channel") else "",
            "date_from": data["date_from"].isoformat() if data.get("date_from") else "",
            "date_to": data["date_to"].isoformat() if data.get("date_to") else "",
            "outcome": data.get("outcome") or "",
            "status": data.get("status") or "",
            # "null" is the form's "— nobody —"
            "owner": None if owner == self.filters["owner"].null_value else (owner.username if owner else ""),
            "amount_min": "" if data.get("amount_min") is None else str(data["amount_min"]),
            "amount_max": "" if data.get("amount_max") is None else str(data["amount_max"]),
            "serial_no": data.get("serial_no") or "",
        }

    def filter_queryset(self, queryset):
        # One home for what each criterion means: the selector, which the export task applies too.
        return differences_where(queryset, **self.criteria())
