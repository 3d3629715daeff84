"""What the report pages' FilterSets share (all read-only, GET): the date
widget, the choices, and a date range that defaults to the latest day with
rows (``date_to`` defaults to ``date_from`` and the reverse, so one date
means one day). Each bounded context's page filters live in its package."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.conf import settings

from accounts.models import AccountType

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _currency_choices():
    return [(c, c) for c in settings.CURRENCIES]


def _type_choices():
    return [(t.code, f"{t.code} ({t.subject_code})") for t in AccountType.objects.order_by("code")]


def with_default_dates(data, latest):
    """The query string with ``date_from``/``date_to`` filled in: a missing
    one takes the other, both missing take ``latest`` (a date or None)."""
    data = data.copy()
    date_from, date_to = data.get("date_from", ""), data.get("date_to", "")
    if not date_from and not date_to and latest is not None:
        date_from = date_to = latest.isoformat()
    data["date_from"] = date_from or date_to
    data["date_to"] = date_to or date_from
    return data


class _DateRangeFilter(filters.FilterSet):
    """``date_from``/``date_to`` on ``accounting_date`` (a subclass may
    redeclare them on another field), checked as a range of at most
    ``max_days`` (None: any length)."""

    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)
    max_days: int | None = 366

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.clean = self._clean_range

    def _clean_range(self):
        data = forms.Form.clean(self.form)
        date_from, date_to = data.get("date_from"), data.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError("The first date is after the last one.")
        if date_from and date_to and self.max_days is not None and (date_to - date_from).days > self.max_days:
            raise forms.ValidationError("Choose at most a year.")
        return data
