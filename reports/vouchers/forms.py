"""Forms of the voucher pages: they check the shape of the input; the
services check the rest and refuse with a coded error."""

from __future__ import annotations

from django import forms

from accounts.models import Entity

from .models import ExportFormat

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DATE = forms.DateInput(attrs={"type": "date"})


class VoucherExportForm(forms.Form):
    entity = forms.ModelChoiceField(queryset=Entity.objects.order_by("code"), label="Entity")
    date_from = forms.DateField(label="From", widget=DATE)
    date_to = forms.DateField(label="To", widget=DATE)
    format = forms.ChoiceField(choices=ExportFormat.choices, label="Layout")

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The first date is after the last one.")
        return data


class VoucherAckForm(forms.Form):
    gl_voucher_no = forms.CharField(label="GL voucher number (总账凭证号)", max_length=64)


class VoucherAckUploadForm(forms.Form):
    file = forms.FileField(
        label="The GL's answer file (CSV or XLSX)",
        help_text="Columns voucher_no (ours, e.g. MAIN-202612-记-0001) and gl_voucher_no; see docs/vouchers.md.",
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        return upload
