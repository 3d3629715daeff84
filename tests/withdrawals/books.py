"""Reading the books back in the withdrawal tests: the member's wallet, the
two banks' clearing accounts and fee income as one snapshot, the history of
a withdrawal as plain tuples, and the balance identity."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Account
from postings.models import Entry, Hold, Posting
from postings.selectors import identity_totals
from withdrawals.models import Approval, PayoutInstruction, Withdrawal, WithdrawalEvent


@dataclass(frozen=True)
class Books:
    balance: Decimal  # the member's cash account
    frozen: Decimal
    available: Decimal
    bank_a: Decimal  # clearing account of the first paying bank (icbc)
    bank_b: Decimal  # clearing account of the second paying bank (cmb)
    fee_income: Decimal


def books(desk, account: Account | None = None) -> Books:
    member = Account.objects.get(pk=(account or desk.member_account).pk)

    def bal(a):
        return Account.objects.get(pk=a.pk).balance

    return Books(
        member.balance,
        member.frozen,
        member.available,
        bal(desk.bank_a.clearing_account),
        bal(desk.bank_b.clearing_account),
        bal(desk.fee_income),
    )


def identity_holds() -> bool:
    """sum(asset) = sum(liability) + sum(internal), per entity and currency."""
    rows = identity_totals()
    assert rows, "no accounts at all"
    broken = [r for r in rows if not r.holds]
    assert not broken, f"balance identity broken: {broken}"
    return True


def history(withdrawal: Withdrawal) -> list[tuple]:
    """(from, to, actor, rule codes, bank ref) of every status change, oldest first."""
    return [
        (e.from_status, e.to_status, e.actor, e.rule_codes, e.bank_ref)
        for e in WithdrawalEvent.objects.filter(withdrawal_id=withdrawal.pk).order_by("id")
    ]


def entries(posting: Posting) -> list[tuple]:
    """(account no, D/C, amount) of a posting's entries, debits first."""
    return [
        (e.account.account_no, e.direction, e.amount)
        for e in posting.entries.select_related("account").order_by("-direction", "serial_no")
    ]


def counts() -> dict[str, int]:
    """How many rows the withdrawal flow has written anywhere."""
    return {
        "withdrawals": Withdrawal.objects.count(),
        "events": WithdrawalEvent.objects.count(),
        "approvals": Approval.objects.count(),
        "instructions": PayoutInstruction.objects.count(),
        "holds": Hold.objects.count(),
        "postings": Posting.objects.count(),
        "entries": Entry.objects.count(),
    }


def state():
    """Every row the flow writes, and every account's money: equal before and
    after means nothing was written."""
    return (
        counts(),
        sorted(Withdrawal.objects.values_list("id", "status", "approvals_required", "closing_reason")),
        sorted(Hold.objects.values_list("id", "status", "remaining")),
        sorted(
            PayoutInstruction.objects.values_list("id", "status", "bank_ref", "duplicate_answers", "needs_attention")
        ),
        sorted(Account.objects.values_list("id", "balance", "frozen")),
    )
