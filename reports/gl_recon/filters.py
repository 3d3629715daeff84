"""FilterSets of the GL reconciliation pages."""

from __future__ import annotations

import django_filters as filters

from accounts.models import Entity

from ..filters import DATE, _currency_choices
from .models import GlImport, GlImportRow


class GlImportFilter(filters.FilterSet):
    entity = filters.ModelChoiceFilter(queryset=Entity.objects.order_by("code"), label="Entity")
    date_from = filters.DateFilter(field_name="accounting_date", lookup_expr="gte", label="Date from", widget=DATE)
    date_to = filters.DateFilter(field_name="accounting_date", lookup_expr="lte", label="Date to", widget=DATE)
    file_name = filters.CharFilter(field_name="file_name", lookup_expr="icontains", label="File name")

    class Meta:
        model = GlImport
        fields: list[str] = []


class GlDifferenceFilter(filters.FilterSet):
    """The differences of one GL import. They are computed per subject and
    currency from both sides (``selectors.gl_differences``), so the page
    applies ``keep`` to that list; the form is the usual one."""

    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency", empty_label="all")
    subject_code = filters.CharFilter(lookup_expr="startswith", label="Subject code starts with")

    class Meta:
        model = GlImportRow
        fields: list[str] = []

    def keep(self, differences: list) -> list:
        if not self.is_bound:
            return differences
        if not self.is_valid():
            return []
        currency = self.form.cleaned_data.get("currency")
        subject = (self.form.cleaned_data.get("subject_code") or "").strip()
        return [
            d for d in differences if (not currency or d.currency == currency) and d.subject_code.startswith(subject)
        ]
