"""The opening-balance upload form: the shape of the input; the import
service checks the file itself and refuses it whole."""

from __future__ import annotations

from django import forms

from ..gl_recon.forms import MAX_UPLOAD_BYTES


class OpeningUploadForm(forms.Form):
    accounting_date = forms.DateField(
        label="Accounting date of the opening balances",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day the balances are posted on: the ledger's open day, or a day before it not yet cut.",
    )
    file = forms.FileField(
        label="Opening balances (CSV or XLSX)",
        help_text="account rows and gl rows in one table; see docs/opening.md.",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; use the opening_import command."
            )
        return upload
