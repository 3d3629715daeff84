"""How vouchers are grouped and which auxiliary dimensions a subject keeps
are control settings (``accounts.kernel.governance``): they decide what the
GL receives for every later day, so a ledger admin proposes a change and a
second one approves it, and the history says who and what was before. A
change reaches the next build; an exported day is then corrected in red ink
(reports.vouchers.services), never rewritten."""

from __future__ import annotations

from accounts.kernel.governance import GovernedSetting, register

from .models import SubjectDimensions, VoucherGrouping


class VoucherGroupingSetting(GovernedSetting):
    model = VoucherGrouping
    fields = ("business_type", "group_by", "voucher_word")


class SubjectDimensionsSetting(GovernedSetting):
    model = SubjectDimensions
    fields = ("subject_code", "customer", "member", "merchant", "channel", "bank_account", "department")


def register_settings() -> None:
    register(VoucherGroupingSetting())
    register(SubjectDimensionsSetting())
