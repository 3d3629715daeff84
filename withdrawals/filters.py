"""FilterSets of the staff pages: one per list, all read-only (GET).

A member is found by member number (exact) or name (contains); amounts are
compared as entered, in the withdrawal's own currency.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters as filters
from django import forms
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from . import selectors
from .models import PayingBank, PayoutInstruction, ReviewRule, Status, Withdrawal


def _member_q(prefix: str, value: str) -> Q:
    value = value.strip()
    return Q(**{f"{prefix}member__member_no__iexact": value}) | Q(**{f"{prefix}member__name__icontains": value})


class _MemberAmountFilter(filters.FilterSet):
    member = filters.CharFilter(method="filter_member", label="Member (no. or name)")
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte", label="Amount from")
    amount_max = filters.NumberFilter(field_name="amount", lookup_expr="lte", label="Amount to")

    def filter_member(self, queryset, name, value):
        return queryset.filter(_member_q("", value)) if value.strip() else queryset


def _older_than(queryset, name, value):
    if value is None:
        return queryset
    return queryset.filter(created_at__lt=timezone.now() - timedelta(minutes=int(value)))


def _rule_choices():
    return [(code, f"{code}: {name}") for code, name in ReviewRule.objects.values_list("code", "name")]


def _currency_choices():
    return [(c, c) for c in settings.CURRENCIES]


class ReviewQueueFilter(_MemberAmountFilter):
    older_than = filters.NumberFilter(method=_older_than, label="Waiting more than (minutes)", min_value=0)
    rule = filters.ChoiceFilter(choices=_rule_choices, method="filter_rule", label="Rule that fired")

    class Meta:
        model = Withdrawal
        fields: list[str] = []

    def filter_rule(self, queryset, name, value):
        return queryset.filter(review_rules__contains=[value])


class PayoutQueueFilter(_MemberAmountFilter):
    status = filters.ChoiceFilter(
        choices=[(Status.APPROVED, Status.APPROVED.label), (Status.FAILED, Status.FAILED.label)], label="Status"
    )
    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency")
    older_than = filters.NumberFilter(method=_older_than, label="Waiting more than (minutes)", min_value=0)

    class Meta:
        model = Withdrawal
        fields: list[str] = []


def _on_instruction(instructions):
    return Exists(instructions.filter(withdrawal=OuterRef("pk")))


# The dashboard's tiles link here: each choice is the very query its tile
# counts (withdrawals/selectors.py), so the list shows what the tile said.
NEEDING = {
    "in_flight": ("Sent, no bank answer yet", lambda: _on_instruction(selectors.instructions_in_flight())),
    "stuck": ("Stuck at the bank", lambda: _on_instruction(selectors.instructions_stuck())),
    "attention": ("Bank answer needing attention", lambda: _on_instruction(selectors.open_bank_flags())),
    "review_overdue": (
        "Automatic review overdue",
        lambda: Q(pk__in=selectors.withdrawals_review_overdue().values("pk")),
    ),
    "not_transmitted": (
        "Instruction not handed to the bank",
        lambda: _on_instruction(selectors.instructions_not_transmitted()),
    ),
}


class WithdrawalFilter(_MemberAmountFilter):
    status = filters.MultipleChoiceFilter(
        choices=Status.choices, label="Status", widget=forms.SelectMultiple(attrs={"size": 4})
    )
    currency = filters.ChoiceFilter(choices=_currency_choices, label="Currency")
    created_from = filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label="Created from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    created_to = filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label="Created to",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    bank = filters.ModelChoiceFilter(
        queryset=PayingBank.objects.order_by("code"), method="filter_bank", label="Sent through bank"
    )
    paid_on = filters.DateFilter(
        field_name="settlement__created_at",
        lookup_expr="date",
        label="Paid on",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    needing = filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _) in NEEDING.items()], method="filter_needing", label="Needing"
    )

    class Meta:
        model = Withdrawal
        fields: list[str] = []

    def filter_needing(self, queryset, name, value):
        return queryset.filter(NEEDING[value][1]())

    def filter_bank(self, queryset, name, value):
        return queryset.filter(Exists(PayoutInstruction.objects.filter(withdrawal=OuterRef("pk"), bank=value)))


class InstructionFilter(filters.FilterSet):
    """The payout desk's instruction lists (in flight, needing attention)."""

    bank = filters.ModelChoiceFilter(queryset=PayingBank.objects.order_by("code"), label="Bank")
    member = filters.CharFilter(method="filter_member", label="Member (no. or name)")

    class Meta:
        model = PayoutInstruction
        fields: list[str] = []

    def filter_member(self, queryset, name, value):
        return queryset.filter(_member_q("withdrawal__", value)) if value.strip() else queryset


class InFlightFilter(InstructionFilter):
    stuck = filters.BooleanFilter(method="filter_stuck", label="Stuck only", widget=forms.CheckboxInput)

    def filter_stuck(self, queryset, name, value):
        return queryset.filter(is_stuck=True) if value else queryset
