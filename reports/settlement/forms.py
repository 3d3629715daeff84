"""Forms of the settlement pages."""

from __future__ import annotations

from django import forms

from ..channel.models import Channel
from .models import ReserveBankAccount


class ChannelSettleForm(forms.Form):
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.filter(settlement_setup__isnull=False).order_by("code"), to_field_name="code"
    )
    cut_off = forms.DateTimeField(
        required=False,
        label="Cut-off",
        help_text="Entries posted up to this moment; empty: now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class ReserveBalanceForm(forms.Form):
    bank_account = forms.ModelChoiceField(queryset=ReserveBankAccount.objects.filter(active=True))
    balance_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Day")
    balance = forms.CharField(
        max_length=24, label="Balance", widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 14})
    )


class ReserveUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV with the columns bank_account_no, date (YYYY-MM-DD), balance.")
