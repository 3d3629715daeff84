"""The kernel's one transition mechanism (accounts.kernel.transitions).

Driven against a real row and its real history table (an account and
AccountStatusChange) with a table of the test's own, so what is checked is
the mechanism, not one service's rules.
"""

import pytest
from django.db import transaction

from accounts.kernel.errors import IllegalTransition, LedgerError
from accounts.kernel.transitions import Transitions, transition
from accounts.models import Account, AccountStatusChange

pytestmark = pytest.mark.django_db

TABLE = Transitions({"active": {"blocked"}, "blocked": {"active", "closed"}, "closed": set()})


class Boom(Exception):
    pass


def history_of(account, calls=None):
    def write(from_status, to_status):
        if calls is not None:
            calls.append((from_status, to_status))
        return AccountStatusChange.objects.create(
            account=account, from_status=from_status, to_status=to_status, reason="test", changed_by="tester"
        )

    return write


def move(account, to_status, history):
    return transition(
        account, to_status, table=TABLE, what=f"Account {account.account_no}", history=history, account_no="x"
    )


def test_the_table_knows_its_moves_and_its_final_statuses():
    assert TABLE.allows("active", "blocked") and not TABLE.allows("active", "closed")
    assert not TABLE.allows("closed", "active") and not TABLE.allows("nonsense", "active")
    assert TABLE["blocked"] == frozenset({"active", "closed"})
    assert TABLE.final == frozenset({"closed"}) and TABLE.open == frozenset({"active", "blocked"})
    with pytest.raises(ValueError, match="gone"):
        Transitions({"a": {"gone"}})


def test_a_legal_move_writes_the_status_and_its_history_row(ledger):
    account = ledger.cash()
    stamped = account.updated_at
    row = move(account, "blocked", history_of(account))
    stored = Account.objects.get(pk=account.pk)
    assert (stored.status, account.status) == ("blocked", "blocked")
    assert stored.updated_at > stamped
    assert (row.pk, row.from_status, row.to_status) == (
        AccountStatusChange.objects.get(account=account).pk,
        "active",
        "blocked",
    )


def test_an_illegal_move_is_refused_with_the_code_and_writes_nothing(ledger):
    account = ledger.cash()
    calls = []
    with pytest.raises(IllegalTransition) as refused:
        move(account, "closed", history_of(account, calls))
    error = refused.value
    assert error.code == "illegal_transition"
    assert error.message == f"Account {account.account_no} is active; it cannot become closed."
    assert error.as_dict()["fields"] == {"account_no": "x", "from_status": "active", "to_status": "closed"}
    assert calls == []
    assert Account.objects.get(pk=account.pk).status == "active"
    assert not AccountStatusChange.objects.filter(account=account).exists()


def test_a_table_may_refuse_with_its_own_error(ledger):
    class Frozen(LedgerError):
        code = "frozen_solid"

    table = Transitions({"active": set()}, refuse=lambda what, f, t, **fields: Frozen(f"{what}: no", **fields))
    account = ledger.cash()
    with pytest.raises(Frozen) as refused:
        transition(account, "blocked", table=table, what="A", history=history_of(account), account_no="x")
    assert refused.value.code == "frozen_solid" and refused.value.fields == {"account_no": "x"}
    assert Account.objects.get(pk=account.pk).status == "active"


def test_status_and_history_commit_or_roll_back_together(ledger):
    account = ledger.cash()
    # The caller's transaction fails after the move: neither is kept.
    with pytest.raises(Boom), transaction.atomic():
        move(account, "blocked", history_of(account))
        raise Boom
    assert Account.objects.get(pk=account.pk).status == "active"
    assert not AccountStatusChange.objects.filter(account=account).exists()

    # The history row cannot be written: the status written before it goes too.
    def failing_history(from_status, to_status):
        raise Boom

    with pytest.raises(Boom), transaction.atomic():
        move(Account.objects.get(pk=account.pk), "blocked", failing_history)
    assert Account.objects.get(pk=account.pk).status == "active"


@pytest.mark.django_db(transaction=True)
def test_a_move_outside_a_transaction_is_refused_before_writing(ledger):
    account = ledger.cash()
    with pytest.raises(RuntimeError, match="transaction"):
        move(account, "blocked", history_of(account))
    assert Account.objects.get(pk=account.pk).status == "active"
    assert not AccountStatusChange.objects.filter(account=account).exists()
