"""The staff form of a status change; the services decide everything else."""

from __future__ import annotations

import uuid

from django import forms

ACTIONS = {"suspend": "Suspend 暂停", "resume": "Resume 恢复", "revoke": "Revoke 解约"}


class AgreementActionForm(forms.Form):
    """``request_no`` is made when the form is shown, so a form sent twice
    changes the agreement once."""

    request_no = forms.CharField(max_length=64, widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=list(ACTIONS.items()), widget=forms.HiddenInput)
    reason = forms.CharField(max_length=255, required=False, label="Reason", widget=forms.TextInput(attrs={"size": 40}))

    def __init__(self, *args, action: str | None = None, **kwargs):
        if action:
            kwargs.setdefault("auto_id", f"{action}_%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def fresh(cls, action: str) -> AgreementActionForm:
        return cls(initial={"request_no": f"staff-{uuid.uuid4().hex}", "action": action}, action=action)
