"""Forms of the channel reconciliation pages. They check the shape of the
input; the statement import checks the file itself and refuses it whole."""

from __future__ import annotations

from django import forms

MAX_STATEMENT_BYTES = 50 * 1024 * 1024


class StatementUploadForm(forms.Form):
    channel = forms.ModelChoiceField(queryset=None, to_field_name="code", label="Channel")
    statement_date = forms.DateField(label="Statement day", widget=forms.DateInput(attrs={"type": "date"}))
    file = forms.FileField(
        label="Channel statement (CSV)",
        help_text="The file exactly as the channel sent it; its layout is the channel's (admin: Channels).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def __init__(self, *args, **kwargs):
        from .models import Channel

        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(active=True).order_by("code")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_STATEMENT_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_STATEMENT_BYTES // (1024 * 1024)} MB; "
                f"drop it into the statement folder instead."
            )
        return upload


class AdjustmentForm(forms.Form):
    """An adjusting posting proposed from a difference's page: the clearing
    leg's side and amount come from the difference; staff name the counter account."""

    counter_account_no = forms.CharField(label="Counter account", max_length=32)
    memo = forms.CharField(label="Why", max_length=255)
