"""Status changes: one table per kind of row, one way to move along it.

Withdrawals, reconciliation differences, accounts and holds each have a
status that moves along a table (from -> the statuses it may move to). The
table is a ``Transitions``; a move is ``transition(row, to, table=...,
history=...)``, which checks the table, writes the new status (and the other
columns the step changes) with one ``UPDATE`` and writes the history row,
all in the caller's transaction. It locks nothing itself: the service that
calls it has locked the row (``select_for_update(no_key=True)``, in its
documented lock order), so the status it checks is the one it overwrites.
A refused move raises before anything is written.

Why not django-fsm-2: its transitions are decorated model methods that
change the status in memory, leave the write and the history row to the
caller (or to django-fsm-log's generic table), refuse with its own
``TransitionNotAllowed`` and guard concurrency optimistically; a protected
``FSMField`` also refuses the queryset and SQL writes our services use. Our
services own the writes, lock pessimistically and keep a typed, append-only
history table per kind of row: a table object and one function fit that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.db import connection, models
from django.utils import timezone

from .errors import IllegalTransition, LedgerError

M = TypeVar("M", bound=models.Model)
H = TypeVar("H")

# (what, from_status, to_status, **fields) -> the error to raise.
Refusal = Callable[..., LedgerError]


def illegal_transition(what: str, from_status: str, to_status: str, **fields: Any) -> LedgerError:
    """The usual refusal: ``IllegalTransition`` ("W12 is paid; it cannot become cancelled.")."""
    return IllegalTransition(
        f"{what} is {from_status}; it cannot become {to_status}.",
        **fields,
        from_status=from_status,
        to_status=to_status,
    )


class Transitions:
    """A transition table: from -> the statuses it may move to.

    Built from a dict of a model's status choices; a status that moves
    nowhere is final. ``refuse`` makes the error of a refused move (by
    default ``IllegalTransition``, code ``illegal_transition``).
    """

    def __init__(self, moves: Mapping[str, Iterable[str]], *, refuse: Refusal = illegal_transition):
        self.moves: dict[str, frozenset[str]] = {str(s): frozenset(str(t) for t in to) for s, to in moves.items()}
        unknown = set().union(*self.moves.values()) - set(self.moves)
        if unknown:
            raise ValueError(f"Targets without a row of their own: {sorted(unknown)}")
        self.refuse = refuse

    def __getitem__(self, from_status: str) -> frozenset[str]:
        return self.moves[str(from_status)]

    def __iter__(self):
        return iter(self.moves)

    def allows(self, from_status: str, to_status: str) -> bool:
        return str(to_status) in self.moves.get(str(from_status), frozenset())

    @property
    def final(self) -> frozenset[str]:
        """The statuses nothing leaves."""
        return frozenset(s for s, to in self.moves.items() if not to)

    @property
    def open(self) -> frozenset[str]:
        return frozenset(self.moves) - self.final

    def check(self, from_status: str, to_status: str, *, what: str, **fields: Any) -> None:
        """Raise the table's refusal unless from -> to is in the table."""
        if not self.allows(from_status, to_status):
            raise self.refuse(what, str(from_status), str(to_status), **fields)


def transition(
    row: M,
    to_status: str,
    *,
    table: Transitions,
    history: Callable[[str, str], H],
    what: str,
    field: str = "status",
    changes: Mapping[str, Any] | None = None,
    **fields: Any,
) -> H:
    """Move a locked ``row`` to ``to_status`` along ``table`` and write its history.

    ``changes`` are the other columns the step writes (``updated_at`` is set
    when the model has one); ``history(from_status, to_status)`` writes the
    history row and its result is returned. ``what`` and ``fields`` name the
    row in a refusal. Must run inside the caller's transaction, so the row,
    its status and its history commit or roll back together.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("transition() runs inside the caller's transaction, with the row locked.")
    from_status = str(getattr(row, field))
    table.check(from_status, to_status, what=what, **fields)
    values = {**(changes or {}), field: to_status}
    if "updated_at" not in values and any(f.name == "updated_at" for f in row._meta.concrete_fields):
        values["updated_at"] = timezone.now()
    type(row)._default_manager.filter(pk=row.pk).update(**values)
    for name, value in values.items():
        setattr(row, name, value)
    return history(from_status, str(to_status))
