"""Forms of the close certificate pages."""

from __future__ import annotations

from django import forms

from accounts.models import Entity

# A verification reads every entry of its range: a year at most from a page
# (the command has no limit).
MAX_VERIFY_DAYS = 366


class VerifyForm(forms.Form):
    entity = forms.ModelChoiceField(queryset=Entity.objects.order_by("code"))
    date_from = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                raise forms.ValidationError("The last day is before the first.")
            if (end - start).days >= MAX_VERIFY_DAYS:
                raise forms.ValidationError(
                    f"Verify at most {MAX_VERIFY_DAYS} days from this page (manage.py ledger_verify takes any range)."
                )
        return data


class SignForm(forms.Form):
    # The hash the signer was shown: a certificate redrafted since is not signed.
    certificate_hash = forms.CharField(max_length=64, min_length=64)
