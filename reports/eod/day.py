"""The day's derived tables, shared by the balance sheet, the checks and the
vouchers of one end of day (see ``reports.eod.services`` for the design).

The steps build them through ``_day_build`` and ``_lines_build`` and read
them by ``_temp(_DAY)`` and ``_temp(_LINES)``; everything here is private
to ``reports.eod``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, connection

from accounts.models import Account, Entity

from .selectors import previous_run_date

logger = logging.getLogger(__name__)


# Failing rows kept in a CheckResult's details; all of them are counted.
DETAILS_CAP = 100
# Per sort or hash of the end of day's statements: a day of 2,000,000 entries
# sorts in memory (about 250 MB), and a million accounts hash in memory.
WORK_MEM = getattr(settings, "EOD_WORK_MEM", "320MB")
_Q4 = Decimal("0.0001")


# ----------------------------------------------------------- SQL helpers ----


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# ------------------------------------------------------------- the day ----
#
# The balance sheet, the checks and the vouchers are derived from two
# passes over the day's entries, kept for the run in temporary tables of the
# worker's session (they are a by-product, never a record):
#
# eod_day, one sorted pass: one row per account of the entity, with the
#   day's facts (debit, credit, entry count, first entry's balance before,
#   last entry's balance after and serial, whether the day's chain may be
#   broken), the account's type and balance, the previous sheet's closing
#   and what was posted after the day. Rows of the previous sheet whose
#   account is not the entity's get a row too (of_entity = 0): only
#   tampering makes them, and the checks must see them.
# eod_lines, one grouped pass: the day's entries per subject, category,
#   direction, business type and currency: the vouchers, and the entries'
#   side of the per-currency and per-subject checks, summed independently of
#   the per-account pass.
#
# The balance sheet is inserted from eod_day. The checks read the stored
# sheet back once, joined with eod_day, and sum every check's failures in
# that one pass; only a check that fails runs a second query, for its
# details. Inside ``eod_run`` a step reuses what an earlier step of the same
# run built; any other call builds its own and drops it when done.

_DAY, _LINES = "eod_day", "eod_lines"
_built: ContextVar[set | None] = ContextVar("eod_built", default=None)


def _temp(name: str) -> str:
    return f"pg_temp.{name}"


@contextmanager
def _day_tables() -> Iterator[None]:
    """Scope of the temporary tables: the run (reused by its later steps),
    or the one call when no run is going on. Dropped on leaving it."""
    if _built.get() is not None:
        yield
        return
    token = _built.set(set())
    try:
        yield
    finally:
        _built.reset(token)
        try:
            with connection.cursor() as cursor:
                for name in (_DAY, _LINES):
                    cursor.execute(f"DROP TABLE IF EXISTS {_temp(name)}")
        except DatabaseError:  # a broken connection takes its temporary tables with it
            logger.warning("end of day: could not drop the temporary tables", exc_info=True)


def _reusable(name: str, d: _Day) -> bool:
    """Built by an earlier step of this run, and still there (a step that
    failed rolled back what it built)."""
    if (name, d.entity.pk, d.day) not in (_built.get() or ()):
        return False
    return _fetch("SELECT to_regclass(%(t)s) IS NOT NULL", {"t": _temp(name)})[0][0]


def _mark_built(name: str, d: _Day) -> None:
    built = _built.get()
    if built is not None:
        built.add((name, d.entity.pk, d.day))


def _tune_session() -> None:
    """Inside the step's transaction only (SET LOCAL). Sorting and hashing
    a day of entries needs more than the server's default work_mem; JIT
    compiling these statements costs more than it saves."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [WORK_MEM])
        cursor.execute("SET LOCAL jit = off")


def _differs(a: str, b: str) -> str:
    """SQL: a and b are different amounts (a NULL differs from anything)."""
    return f"({a}) IS DISTINCT FROM ({b})"


def _money(value) -> str | None:
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(_Q4))


def _amount(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(_Q4)


def _exact(value) -> Decimal:
    """A sum as the database returned it (numeric: exact), None as 0."""
    return Decimal(str(value or 0))


# The day's entries of one entity (Entry has no entity column: its account does).
_DAY_ENTRIES = """
      FROM postings_entry e
      JOIN accounts_account a ON a.id = e.account_id
     WHERE e.accounting_date = %(day)s AND a.entity_id = %(entity)s"""

# Turnover on the account's normal side: debit-normal assets, credit-normal the rest.
_SIGNED = "CASE WHEN {cat} = 'asset' THEN {d} - {c} ELSE {c} - {d} END"


@dataclass(frozen=True)
class _Day:
    entity: Entity
    day: date
    prev: date | None
    sole_entity: bool  # no other entity has accounts: every entry is this entity's

    @property
    def params(self) -> dict:
        return {"entity": self.entity.pk, "day": self.day, "prev": self.prev, "cap": DETAILS_CAP}


def _day_of(entity: Entity, day: date) -> _Day:
    others = Entity.objects.exclude(pk=entity.pk).values_list("pk", flat=True)  # a handful: one probe each
    return _Day(
        entity,
        day,
        previous_run_date(entity=entity, accounting_date=day),
        sole_entity=not any(Account.objects.filter(entity_id=pk).exists() for pk in others),
    )


def _day_sql(d: _Day) -> str:
    """eod_day (see above). The day's entries are sorted once per account by
    account_seq; each account's facts are aggregated from that order.

    chain_suspect = 1 marks an account whose chain of the day may be broken:
    an entry whose balance after is not its balance before plus its amount on
    the account's normal side; an entry whose balance before is not the
    balance after of the day's previous entry, or that does not follow it in
    account_seq; or a first entry of the day whose balance before is not the
    balance after of the account's previous entry (whatever its day: looked
    up by the (account, account_seq) index, one probe per account) or not 0
    for the account's very first entry. The entry_chain check then examines
    these accounts' entries one by one; an account not marked has no broken
    entry of the day."""
    entries_of_entity = (
        "" if d.sole_entity else ("AND e.account_id IN (SELECT id FROM accounts_account WHERE entity_id = %(entity)s)")
    )
    # An entry moves its balance by its amount: up on the account's normal side, down on the other.
    debit_normal = _differs(
        "CASE WHEN w.direction = 'D' THEN w.balance_after - w.balance_before "
        "ELSE w.balance_before - w.balance_after END",
        "w.amount",
    )
    credit_normal = _differs(
        "CASE WHEN w.direction = 'C' THEN w.balance_after - w.balance_before "
        "ELSE w.balance_before - w.balance_after END",
        "w.amount",
    )
    # A fence: the day's rows are read (by date) and sorted; walking an index by account
    # instead, as the planner may prefer, would read every account's whole history.
    fence = "OFFSET 0"
    previous_after = """CASE WHEN f.first_seq = 1 THEN 0
                             ELSE (SELECT q.balance_after FROM postings_entry q
                                    WHERE q.account_id = f.account_id AND q.account_seq = f.first_seq - 1) END"""
    later = {
        (state, side): f"SUM(CASE WHEN e.balance_after IS {state} NULL AND e.direction = '{side}' "
        f"THEN e.amount ELSE 0 END)"
        for state in ("NOT", "")
        for side in "DC"
    }
    accounts = f"""
        SELECT a.id AS account_id, t.code AS account_type_code, t.subject_code, a.category, a.currency, a.balance,
               f.debit, f.credit, f.entry_count, f.first_before, f.last_after, f.last_serial,
               CASE WHEN f.account_id IS NULL THEN 0
                    WHEN f.links_broken > 0 OR f.first_seq IS NULL
                      OR (CASE WHEN a.category = 'asset' THEN f.off_if_debit_normal
                               ELSE f.off_if_credit_normal END) > 0
                      OR {_differs("f.first_before", previous_after)}
                    THEN 1 ELSE 0 END AS chain_suspect,
               {_SIGNED.format(cat="a.category", d="l.applied_debit", c="l.applied_credit")} AS later_applied,
               {_SIGNED.format(cat="a.category", d="l.pending_debit", c="l.pending_credit")} AS later_pending
          FROM accounts_account a
          JOIN accounts_accounttype t ON t.id = a.account_type_id
          LEFT JOIN (
               SELECT w.account_id,
                      SUM(CASE WHEN w.direction = 'D' THEN w.amount ELSE 0 END) AS debit,
                      SUM(CASE WHEN w.direction = 'C' THEN w.amount ELSE 0 END) AS credit,
                      COUNT(*) AS entry_count,
                      MIN(w.account_seq) AS first_seq,
                      MAX(CASE WHEN w.previous_serial IS NULL THEN w.balance_before END) AS first_before,
                      MAX(CASE WHEN w.next_serial IS NULL THEN w.balance_after END) AS last_after,
                      MAX(CASE WHEN w.next_serial IS NULL THEN w.serial_no END) AS last_serial,
                      SUM(CASE WHEN w.previous_serial IS NOT NULL
                                AND (w.previous_seq IS NULL OR w.account_seq IS NULL
                                     OR w.previous_seq <> w.account_seq - 1
                                     OR {_differs("w.previous_after", "w.balance_before")})
                               THEN 1 ELSE 0 END) AS links_broken,
                      SUM(CASE WHEN {debit_normal} THEN 1 ELSE 0 END) AS off_if_debit_normal,
                      SUM(CASE WHEN {credit_normal} THEN 1 ELSE 0 END) AS off_if_credit_normal
                 FROM (SELECT e.serial_no, e.account_id, e.account_seq, e.direction, e.amount,
                              e.balance_before, e.balance_after,
                              LAG(e.serial_no) OVER win AS previous_serial,
                              LEAD(e.serial_no) OVER win AS next_serial,
                              LAG(e.account_seq) OVER win AS previous_seq,
                              LAG(e.balance_after) OVER win AS previous_after
                         FROM (SELECT serial_no, account_id, account_seq, direction, amount, balance_before,
                                      balance_after
                                 FROM postings_entry e
                                WHERE e.accounting_date = %(day)s {entries_of_entity} {fence}) e
                       WINDOW win AS (PARTITION BY e.account_id ORDER BY e.account_seq, e.serial_no)) w
                GROUP BY w.account_id) f ON f.account_id = a.id
          LEFT JOIN (
               SELECT e.account_id, {later["NOT", "D"]} AS applied_debit, {later["NOT", "C"]} AS applied_credit,
                      {later["", "D"]} AS pending_debit, {later["", "C"]} AS pending_credit
                 FROM postings_entry e
                WHERE e.accounting_date > %(day)s
                GROUP BY e.account_id) l ON l.account_id = a.id
         WHERE a.entity_id = %(entity)s"""
    columns = """x.account_type_code, x.subject_code, x.category, x.currency, x.balance, x.debit, x.credit,
               x.entry_count, x.first_before, x.last_after, x.last_serial, x.chain_suspect, x.later_applied,
               x.later_pending, p.closing AS prev_closing, p.subject_code AS prev_subject,
               p.currency AS prev_currency"""
    previous = """(SELECT account_id, closing, subject_code, currency FROM reports_dailybalance
                    WHERE entity_id = %(entity)s AND accounting_date = %(prev)s) p"""
    return f"""
        CREATE TEMP TABLE {_DAY} AS
        SELECT COALESCE(x.account_id, p.account_id) AS account_id,
               CASE WHEN x.account_id IS NULL THEN 0 ELSE 1 END AS of_entity, {columns}
          FROM ({accounts}) x
          FULL JOIN {previous} ON p.account_id = x.account_id"""


def _day_build(d: _Day, *, fresh: bool = False) -> None:
    if not fresh and _reusable(_DAY, d):
        return
    _execute(f"DROP TABLE IF EXISTS {_temp(_DAY)}", {})
    # The planner cannot know how many accounts survive the joins;
    # guessing few, it would probe indexes a million times.
    _execute("SET LOCAL enable_nestloop = off", {})
    _execute(_day_sql(d), d.params)
    _execute("SET LOCAL enable_nestloop TO DEFAULT", {})
    _mark_built(_DAY, d)


def _lines_build(d: _Day) -> None:
    if _reusable(_LINES, d):
        return
    _execute(f"DROP TABLE IF EXISTS {_temp(_LINES)}", {})
    _execute(
        f"""
        CREATE TEMP TABLE {_LINES} AS
        SELECT t.subject_code, a.category, e.direction, e.business_type, e.currency, SUM(e.amount) AS amount,
               COUNT(*) AS entry_count, MIN(e.serial_no) AS first_serial, MAX(e.serial_no) AS last_serial
          FROM postings_entry e
          JOIN accounts_account a ON a.id = e.account_id
          JOIN accounts_accounttype t ON t.id = a.account_type_id
         WHERE e.accounting_date = %(day)s AND a.entity_id = %(entity)s
         GROUP BY t.subject_code, a.category, e.direction, e.business_type, e.currency""",
        d.params,
    )
    _mark_built(_LINES, d)
