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

from .models import DailyTotal, SheetDay
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
# eod_day, one sorted pass: one row per account that moved that day (or has
#   a stored row of the day), with the day's facts (debit, credit, entry
#   count, first entry's balance before, last entry's balance after and
#   serial, whether the day's chain may be broken), the account's type and
#   balance, its previous stored row (closing, subject, category, currency)
#   and what was posted after the day. An account that is not the entity's
#   gets of_entity = 0: only tampering makes one, and the checks must see it.
#   Its size is the day's movers, never the number of accounts.
# eod_lines, one grouped pass: the day's entries per subject, category,
#   direction, business type and currency: the vouchers, and the entries'
#   side of the per-currency and per-subject checks, summed independently of
#   the per-account pass.
#
# The balance sheet is inserted from eod_day, and the day's totals follow
# from the previous day's and eod_day (below). The checks read the day's
# stored rows back once, joined with eod_day, and sum every check's failures
# in that one pass; only a check that fails runs a second query, for its
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
    """eod_day (see above): the day's movers, and any account with a stored
    row of the day (a re-run's, or one that should not be there). The day's
    entries are sorted once per account by account_seq; each account's facts
    are aggregated from that order; its previous row is its latest stored
    row before the day (one probe of the (account, date) index each).

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
    return f"""
        CREATE TEMP TABLE {_DAY} AS
        WITH f AS MATERIALIZED (
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
                GROUP BY w.account_id),
        ids AS (SELECT account_id FROM f
                 UNION
                SELECT account_id FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s),
        l AS (SELECT e.account_id, {later["NOT", "D"]} AS applied_debit, {later["NOT", "C"]} AS applied_credit,
                     {later["", "D"]} AS pending_debit, {later["", "C"]} AS pending_credit
                FROM postings_entry e
               WHERE e.accounting_date > %(day)s AND e.account_id IN (SELECT account_id FROM ids)
               GROUP BY e.account_id)
        SELECT a.id AS account_id, CASE WHEN a.entity_id = %(entity)s THEN 1 ELSE 0 END AS of_entity,
               t.code AS account_type_code, t.subject_code, a.category, a.currency, a.balance,
               f.debit, f.credit, f.entry_count, f.first_before, f.last_after, f.last_serial,
               CASE WHEN f.account_id IS NULL THEN 0
                    WHEN f.links_broken > 0 OR f.first_seq IS NULL
                      OR (CASE WHEN a.category = 'asset' THEN f.off_if_debit_normal
                               ELSE f.off_if_credit_normal END) > 0
                      OR {_differs("f.first_before", previous_after)}
                    THEN 1 ELSE 0 END AS chain_suspect,
               {_SIGNED.format(cat="a.category", d="l.applied_debit", c="l.applied_credit")} AS later_applied,
               {_SIGNED.format(cat="a.category", d="l.pending_debit", c="l.pending_credit")} AS later_pending,
               p.closing AS prev_closing, p.subject_code AS prev_subject, p.currency AS prev_currency,
               p.category AS prev_category
          FROM ids
          -- one probe of the accounts per id (fenced: hashing the accounts would read them all)
         CROSS JOIN LATERAL (SELECT * FROM accounts_account a WHERE a.id = ids.account_id OFFSET 0) a
          JOIN accounts_accounttype t ON t.id = a.account_type_id
          LEFT JOIN f ON f.account_id = a.id
          LEFT JOIN l ON l.account_id = a.id
          LEFT JOIN LATERAL (
               SELECT b.closing, b.subject_code, b.currency, b.category FROM reports_dailybalance b
                WHERE b.account_id = a.id AND b.accounting_date < %(day)s
                ORDER BY b.accounting_date DESC LIMIT 1) p ON true"""


def _day_build(d: _Day, *, fresh: bool = False) -> None:
    if not fresh and _reusable(_DAY, d):
        return
    _execute(f"DROP TABLE IF EXISTS {_temp(_DAY)}", {})
    _execute(_day_sql(d), d.params)
    _execute(f"ANALYZE {_temp(_DAY)}", {})
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


# ------------------------------------------------------------ the totals ----
#
# The day's sheet summed per (subject, category, currency): the previous run
# day's totals (reports_dailytotal), minus each eod_day account's previous
# row, plus its row as of the day (its stored row of the day, or the
# previous one carried when its closing is not zero). Only eod_day's
# accounts are read, so the totals cost what the day moved.

# A weight per account (1 .. 1,000,003) for the weighted sums: two drifts that
# cancel in a plain sum do not cancel in both.
WEIGHT = "(1 + mod({id} * 7919, 1000003))"
TOTAL_FIGURES = ("closing", "weighted", "debit", "credit", "rows", "nonzero")


def _previous_totals(d: _Day) -> dict[tuple[str, str, str], list]:
    """(subject, category, currency) -> TOTAL_FIGURES of the previous run
    day. A day that is not sparse (built before the totals existed, or
    written directly) stores its whole sheet: its rows are summed."""
    if d.prev is None:
        return {}
    if SheetDay.objects.filter(entity=d.entity, accounting_date=d.prev, sparse=True).exists():
        rows = DailyTotal.objects.filter(entity=d.entity, accounting_date=d.prev).values_list(
            "subject_code", "category", "currency", *TOTAL_FIGURES
        )
    else:
        rows = _fetch(
            f"""
            SELECT subject_code, category, currency, SUM(closing), SUM(closing * {WEIGHT.format(id="account_id")}),
                   SUM(debit), SUM(credit), COUNT(*), SUM(CASE WHEN closing <> 0 THEN 1 ELSE 0 END)
              FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(prev)s
             GROUP BY subject_code, category, currency""",
            d.params,
        )
    return {(s, c, cur): [_exact(v) for v in figures] for s, c, cur, *figures in rows}


def _day_deltas(d: _Day) -> list[tuple]:
    """What the day changes in the totals, per (subject, category, currency):
    TOTAL_FIGURES of eod_day's accounts as of the day minus as of the previous
    row. Needs eod_day."""
    w = WEIGHT.format(id="g.account_id")
    return _fetch(
        f"""
        SELECT subject, category, currency, SUM(closing), SUM(weighted), SUM(debit), SUM(credit), SUM(rows),
               SUM(nonzero)
          FROM (SELECT g.prev_subject AS subject, g.prev_category AS category, g.prev_currency AS currency,
                       -g.prev_closing AS closing, -g.prev_closing * {w} AS weighted, 0 AS debit, 0 AS credit,
                       -CASE WHEN g.prev_closing <> 0 THEN 1 ELSE 0 END AS rows,
                       -CASE WHEN g.prev_closing <> 0 THEN 1 ELSE 0 END AS nonzero
                  FROM {_temp(_DAY)} g WHERE g.prev_subject IS NOT NULL
                UNION ALL
                SELECT s.subject_code, s.category, s.currency, s.closing,
                       s.closing * {WEIGHT.format(id="s.account_id")}, s.debit, s.credit, 1,
                       CASE WHEN s.closing <> 0 THEN 1 ELSE 0 END
                  FROM reports_dailybalance s WHERE s.entity_id = %(entity)s AND s.accounting_date = %(day)s
                UNION ALL
                SELECT g.prev_subject, g.prev_category, g.prev_currency, g.prev_closing, g.prev_closing * {w},
                       0, 0, 1, 1
                  FROM {_temp(_DAY)} g
                 WHERE g.prev_closing <> 0
                   AND NOT EXISTS (SELECT 1 FROM reports_dailybalance s
                                    WHERE s.account_id = g.account_id AND s.accounting_date = %(day)s)) x
         GROUP BY subject, category, currency""",
        d.params,
    )


def _day_totals(d: _Day) -> tuple[dict[tuple[str, str, str], list], dict[tuple[str, str, str], list]]:
    """(the previous run day's totals, the day's), each (subject, category,
    currency) -> TOTAL_FIGURES; the day's from the rows stored now. Groups
    without rows are left out. Needs eod_day."""
    previous = _previous_totals(d)
    # Carried to the day: the previous rows whose closing is not zero.
    totals = {key: [*figures[:4], figures[5], figures[5]] for key, figures in previous.items()}
    for subject, category, currency, *figures in _day_deltas(d):
        into = totals.setdefault((subject, category, currency), [Decimal(0)] * len(TOTAL_FIGURES))
        for i, value in enumerate(figures):
            into[i] += _exact(value)
    # The day's turnover is the day's own, not carried from the previous day.
    for key, figures in totals.items():
        if key in previous:
            figures[2] -= previous[key][2]
            figures[3] -= previous[key][3]
    keep = lambda t: {k: v for k, v in t.items() if v[4]}  # noqa: E731
    return keep(previous), keep(totals)
