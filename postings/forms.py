"""Forms of the refund pages. They check the shape of the input; the refund
service decides everything else (permissions, amounts, the window, funds)."""

from __future__ import annotations

import uuid

from django import forms


class RefundForm(forms.Form):
    """A staff refund. ``request_no`` is made when the form is shown, so a
    form sent twice (a double click, a retry) books one refund."""

    request_no = forms.CharField(max_length=64, widget=forms.HiddenInput)
    amount = forms.CharField(
        max_length=24,
        label="Amount to refund",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 12}),
    )
    reason = forms.CharField(
        max_length=255,
        required=False,
        label="Reason",
        help_text="Required for a payment past its refund window; shown to the approver.",
        widget=forms.TextInput(attrs={"size": 48}),
    )

    @classmethod
    def fresh(cls) -> RefundForm:
        return cls(initial={"request_no": f"staff-{uuid.uuid4().hex}"})


class DecisionForm(forms.Form):
    note = forms.CharField(max_length=255, required=False, label="Note", widget=forms.TextInput(attrs={"size": 40}))


class OrderDisputeForm(forms.Form):
    """A staff dispute of a guarantee order; ``request_no`` made when shown,
    so a form sent twice disputes once."""

    request_no = forms.CharField(max_length=64, widget=forms.HiddenInput)
    reason = forms.CharField(max_length=255, label="Why it is disputed", widget=forms.TextInput(attrs={"size": 48}))

    @classmethod
    def fresh(cls) -> OrderDisputeForm:
        return cls(initial={"request_no": f"staff-{uuid.uuid4().hex}"})


class OrderResolveForm(forms.Form):
    request_no = forms.CharField(max_length=64, widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        choices=[
            ("continue", "continue: the order is paid again and goes on"),
            ("confirm", "confirm: escrow to the merchant now"),
            ("refund", "refund: everything it holds back to the buyer"),
        ],
        label="Outcome",
    )
    reason = forms.CharField(max_length=255, label="Reason", widget=forms.TextInput(attrs={"size": 48}))

    @classmethod
    def fresh(cls) -> OrderResolveForm:
        return cls(initial={"request_no": f"staff-{uuid.uuid4().hex}"})


class CorrectionForm(forms.Form):
    """A staff proposal of a red-ink correction: the legs the posting should
    have had, one per line (``account_no D|C amount``), and why.
    ``request_no`` is made when the form is shown, so a form sent twice
    proposes once."""

    request_no = forms.CharField(max_length=64, widget=forms.HiddenInput)
    legs = forms.CharField(
        label="Corrected legs",
        help_text="One leg per line: account number, D (借) or C (贷), amount.",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 48, "class": "mono"}),
    )
    reason = forms.CharField(max_length=255, label="Reason", widget=forms.TextInput(attrs={"size": 48}))

    def __init__(self, *args, **kwargs):
        # Shown beside the refund form on the posting's page: ids of its own.
        kwargs.setdefault("auto_id", "correction_%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def fresh(cls, posting=None) -> CorrectionForm:
        legs = ""
        if posting is not None:
            legs = "\n".join(
                f"{e.account.account_no} {e.direction} {e.amount.normalize():f}"
                for e in posting.entries.select_related("account").order_by("serial_no")
            )
        return cls(initial={"request_no": f"staff-{uuid.uuid4().hex}", "legs": legs})

    def clean_legs(self) -> list[tuple[str, str, str]]:
        legs = []
        for n, line in enumerate(self.cleaned_data["legs"].splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 3:
                raise forms.ValidationError(f"Line {n}: give account number, D or C, and amount.")
            legs.append((parts[0], parts[1].upper(), parts[2]))
        return legs


class ReceiptVerifyForm(forms.Form):
    """The lookup of an electronic receipt (电子回单): its number and the
    verification code printed on it."""

    serial_no = forms.IntegerField(
        min_value=1, max_value=2**63 - 1, label="Receipt no. (posting P…)", widget=forms.NumberInput(attrs={"size": 12})
    )
    code = forms.CharField(
        max_length=40,
        label="Verification code",
        widget=forms.TextInput(attrs={"size": 28, "autocomplete": "off", "placeholder": "XXXX-XXXX-XXXX-XXXX-XXXX"}),
    )
