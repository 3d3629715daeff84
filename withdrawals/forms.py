"""Forms of the staff pages. They check the shape of the input; the services
decide everything else (permissions, funds, transitions) and their errors
are shown as they come."""

from __future__ import annotations

import uuid

from django import forms

from accounts.kernel.errors import InvalidAmount
from accounts.kernel.money import parse_amount

from . import services
from .selectors import paying_banks_active


class CardNumberInput(forms.TextInput):
    """A card number field that never sends a number back to the browser:
    a page re-rendered after an error asks for the number again rather than
    echoing a full card number (pages only ever show the masked one)."""

    def format_value(self, value):
        return None


class AmountField(forms.CharField):
    """An amount read by the ledger's one amount parser (``parse_amount``):
    plain digits and an optional decimal point, nothing a browser or Decimal
    would read more generously (``1e3``, full-width digits, NaN)."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
    default_error_messages = {
        "invalid": "Enter a number: plain digits with an optional decimal point, such as 100.00.",
    }

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_amount(value)
        except InvalidAmount:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def new_request_no() -> str:
    return f"staff-{uuid.uuid4().hex[:20]}"


class WithdrawalRequestForm(forms.Form):
    """A withdrawal taken by phone for a member. ``request_no`` is generated
    when the form is first shown and travels with it, so submitting the same
    form twice records one withdrawal."""

    account_no = forms.CharField(label="Account number", max_length=32)
    amount = AmountField(
        label="Amount",
        help_text="In the account's currency; the fee is added and frozen with it.",
    )
    card_holder = forms.CharField(label="Card holder", max_length=128)
    card_bank = forms.CharField(label="Bank", max_length=64, help_text="The bank that issued the card, e.g. ICBC.")
    card_number = forms.CharField(
        label="Card number",
        max_length=32,
        widget=CardNumberInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    request_no = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("request_no", new_request_no())
        super().__init__(*args, **kwargs)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount <= 0:
            raise forms.ValidationError("The amount must be greater than zero.")
        return amount


class ApproveForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False)


class ReasonForm(forms.Form):
    """Rejection and cancellation: the member reads the reason."""

    reason = forms.CharField(max_length=255, error_messages={"required": "Give a reason the member can act on."})

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason the member can act on.")
        return reason


class FlagResolveForm(forms.Form):
    """Finance's resolution of a contradictory bank answer, from the bank's
    statement: the reason is kept on the instruction and in the history."""

    outcome = forms.ChoiceField(
        choices=[(services.BANK_PAID, "The bank paid"), (services.BANK_NOT_PAID, "The bank did not pay")],
        error_messages={"required": "Say whether the bank paid.", "invalid_choice": "Say whether the bank paid."},
    )
    reason = forms.CharField(
        max_length=255, error_messages={"required": "Give the bank statement line the resolution rests on."}
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give the bank statement line the resolution rests on.")
        return reason


class WithdrawalIdsForm(forms.Form):
    withdrawal_ids = forms.TypedMultipleChoiceField(
        coerce=int, error_messages={"required": "Tick at least one withdrawal."}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id is accepted here; the service says which it refuses and why.
        ids = self.data.getlist("withdrawal_ids") if hasattr(self.data, "getlist") else []
        self.fields["withdrawal_ids"].choices = [(i, i) for i in ids if str(i).isdigit()]


class BulkApproveForm(WithdrawalIdsForm):
    reason = forms.CharField(max_length=255, required=False)


class PayoutSendForm(WithdrawalIdsForm):
    bank = forms.ModelChoiceField(
        queryset=paying_banks_active(),
        empty_label="— choose the paying bank —",
        error_messages={"required": "Choose the bank to pay through."},
    )
