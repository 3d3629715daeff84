"""Forms of the staff actions on a webhook endpoint."""

from __future__ import annotations

from django import forms


class PauseForm(forms.Form):
    reason = forms.CharField(label="Why", max_length=255, required=False)


class RedeliverForm(forms.Form):
    from_seq = forms.IntegerField(label="From event no.", min_value=1, max_value=2**63 - 1)
    to_seq = forms.IntegerField(label="To event no.", min_value=1, max_value=2**63 - 1)

    def clean(self):
        data = super().clean()
        if data.get("from_seq") and data.get("to_seq") and data["to_seq"] < data["from_seq"]:
            raise forms.ValidationError("The range ends at or after where it starts.")
        return data
