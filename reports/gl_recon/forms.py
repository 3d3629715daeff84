"""The GL upload form: it checks the shape of the input; the import service
checks the file itself and refuses it whole."""

from __future__ import annotations

from django import forms

from accounts.models import Entity

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class GlUploadForm(forms.Form):
    entity = forms.ModelChoiceField(queryset=Entity.objects.order_by("code"), label="Entity")
    accounting_date = forms.DateField(label="Accounting date", widget=forms.DateInput(attrs={"type": "date"}))
    period = forms.ChoiceField(
        label="Covers",
        choices=[("day", "the day"), ("month", "its month (月)"), ("year", "its year (年)")],
        initial="day",
        required=False,
        help_text="A month's or a year's trial balance is compared with the ledger's figures of the period.",
    )
    file = forms.FileField(
        label="GL trial balance (CSV or XLSX)",
        help_text="Columns subject_code, currency (optional), opening, debit, credit, closing, "
        "accounting_date (optional); see docs/reports.md.",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        ),
    )

    def clean(self):
        data = super().clean()
        day = data.get("accounting_date")
        data["period_start"] = None
        if day is not None and data.get("period") in ("month", "year"):
            from ..periods.services import period_bounds

            data["period_start"], data["accounting_date"] = period_bounds(data["period"], day)
        return data

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return upload
