"""The credit pages' one form: a limit raised or lowered by finance."""

from __future__ import annotations

from django import forms


class CreditLimitForm(forms.Form):
    credit_limit = forms.DecimalField(
        label="New limit", min_value=0, max_digits=20, decimal_places=2, help_text="Below what is used is allowed."
    )
    reason = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"size": 50}))
