"""Forms of the period pages."""

from __future__ import annotations

from django import forms

from accounts.models import Entity

from .models import PeriodKind


class PeriodChoiceForm(forms.Form):
    """A period: the entity, month or year, and any day in it (2026-11-30, or 2026-11 / 2026)."""

    entity = forms.ModelChoiceField(queryset=Entity.objects.order_by("code"))
    kind = forms.ChoiceField(choices=PeriodKind.choices, initial=PeriodKind.MONTH)
    period = forms.CharField(max_length=10, help_text="YYYY-MM for a month, YYYY for a year")

    def clean_period(self):
        from datetime import date

        text = self.cleaned_data["period"].strip()
        try:
            parts = [int(p) for p in text.split("-")]
            return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
        except (ValueError, IndexError):
            raise forms.ValidationError("Give the period as YYYY-MM (a month) or YYYY (a year).") from None


class PeriodProposeForm(PeriodChoiceForm):
    note = forms.CharField(max_length=255, required=False)
