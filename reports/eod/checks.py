"""The end of day's consistency checks: they record what they find and never
stop the run (a failed check is a fact about immutable entries; the
correction is a posting on the open day)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Entity
from postings.models import ACTIVE_HOLD_STATUSES, OPEN_ORDER_STATUSES, Entry, GuaranteeOrder, Hold

from .day import (
    _DAY,
    _DAY_ENTRIES,
    _LINES,
    _SIGNED,
    DETAILS_CAP,
    WEIGHT,
    _amount,
    _Day,
    _day_build,
    _day_of,
    _day_tables,
    _day_totals,
    _differs,
    _exact,
    _fetch,
    _lines_build,
    _money,
    _temp,
    _tune_session,
)
from .models import CheckResult, EodRun

# --------------------------------------------------------------- checks ----


@dataclass
class CheckOutcome:
    name: str
    checked_rows: int
    failures: int = 0
    details: list[dict] = field(default_factory=list)
    summary: str = ""

    @property
    def passed(self) -> bool:
        return self.failures == 0


def _account_numbers(ids) -> dict[int, str]:
    return dict(Account.objects.filter(id__in=set(ids)).values_list("id", "account_no"))


# Per row of eod_day g joined with the stored sheet s of the day: 1 where a
# check fails for that account, else 0. The sweep sums them; the details
# queries select the rows where they are 1.
def _failing_account_balance() -> str:
    """account_balance: the stored row's closing = opening + turnover on the
    normal side, and its opening = the previous closing (0 if none); an
    account without a row had a zero previous closing."""
    arithmetic = _differs("s.closing", "s.opening + " + _SIGNED.format(cat="s.category", d="s.debit", c="s.credit"))
    return f"""CASE WHEN s.account_id IS NOT NULL
                    THEN CASE WHEN {arithmetic} OR {_differs("s.opening", "COALESCE(g.prev_closing, 0)")}
                              THEN 1 ELSE 0 END
                    WHEN {_differs("COALESCE(g.prev_closing, 0)", "0")} THEN 1 ELSE 0 END"""


def _failing_last_entry() -> str:
    """last_entry: an account with entries that day has a stored row whose
    closing is its last entry's balance after and whose count is its entries."""
    return f"""CASE WHEN g.entry_count IS NOT NULL
                     AND (s.account_id IS NULL OR s.entry_count <> g.entry_count
                          OR {_differs("s.closing", "g.last_after")})
                    THEN 1 ELSE 0 END"""


def _failing_live_balance() -> str:
    """live_balance: stored balance + pending = closing + everything posted
    after the day, where pending is what was posted after the day and not
    yet applied to the balance (hot-account buffering: balance_after NULL).
    The pending amounts are on both sides: balance = closing + applied."""
    return f"""CASE WHEN {_differs("COALESCE(g.balance, 0)", "COALESCE(s.closing, 0) + COALESCE(g.later_applied, 0)")}
                    THEN 1 ELSE 0 END"""


def _joined(d: _Day) -> str:
    """eod_day g joined with the stored sheet s of the day, both ways: a
    stored row of an account that is not the entity's is seen too."""
    sheet = """(SELECT account_id, category, currency, subject_code, opening, debit, credit, closing, entry_count
                  FROM reports_dailybalance WHERE entity_id = %(entity)s AND accounting_date = %(day)s) s"""
    return f"{_temp(_DAY)} g FULL JOIN {sheet} ON s.account_id = g.account_id"


def _failing_rows(d: _Day, condition: str, columns: str) -> list[tuple]:
    return _fetch(
        f"""
        SELECT COALESCE(g.account_id, s.account_id) AS account_id, {columns}
          FROM {_joined(d)}
         WHERE ({condition}) = 1
         ORDER BY COALESCE(g.account_id, s.account_id)
         LIMIT %(cap)s""",
        d.params,
    )


def _sweep_rows(d: _Day) -> tuple:
    """One pass over eod_day joined with the day's stored rows: the stored
    rows, those with entries, their entries, the entity's accounts among
    them and each check's failures."""
    return _fetch(
        f"""
        SELECT COUNT(s.account_id), SUM(CASE WHEN s.entry_count > 0 THEN 1 ELSE 0 END), SUM(s.entry_count),
               SUM(CASE WHEN g.of_entity = 1 THEN 1 ELSE 0 END),
               SUM({_failing_account_balance()}), SUM({_failing_last_entry()}), SUM(g.chain_suspect),
               SUM({_failing_live_balance()})
          FROM {_joined(d)}""",
        d.params,
    )[0]


def _others_sql(d: _Day) -> str:
    """The entity's accounts that are not in eod_day (they did not move and
    have no stored row of the day), each with its balance and what was
    applied to it after the day."""
    later = _SIGNED.format(
        cat="a.category",
        d="SUM(CASE WHEN e.balance_after IS NOT NULL AND e.direction = 'D' THEN e.amount ELSE 0 END)",
        c="SUM(CASE WHEN e.balance_after IS NOT NULL AND e.direction = 'C' THEN e.amount ELSE 0 END)",
    )
    pending = _SIGNED.format(
        cat="a.category",
        d="SUM(CASE WHEN e.balance_after IS NULL AND e.direction = 'D' THEN e.amount ELSE 0 END)",
        c="SUM(CASE WHEN e.balance_after IS NULL AND e.direction = 'C' THEN e.amount ELSE 0 END)",
    )
    return f"""
        SELECT a.id AS account_id, a.currency, a.category, a.balance, l.later_applied, l.later_pending
          FROM accounts_account a
          LEFT JOIN (SELECT e.account_id, {later} AS later_applied, {pending} AS later_pending
                       FROM postings_entry e JOIN accounts_account a ON a.id = e.account_id
                      WHERE e.accounting_date > %(day)s AND a.entity_id = %(entity)s
                      GROUP BY e.account_id, a.category) l ON l.account_id = a.id
         WHERE a.entity_id = %(entity)s AND NOT EXISTS (SELECT 1 FROM {_temp(_DAY)} g WHERE g.account_id = a.id)"""


def _others_drift(d: _Day, previous: dict) -> tuple[int, bool]:
    """The one check that reads every account (one scan of the accounts, no
    index probes, no join): per currency and category, the balances of the
    accounts not in eod_day, less what was applied after the day, summed
    plainly and weighted, equal the previous totals less eod_day's previous
    rows. Each side is what it is for all accounts less eod_day's part.
    Returns the number of the entity's accounts and whether any sum differs."""
    weight = WEIGHT.format(id="a.id")
    seen: dict[tuple[str, str], list[Decimal]] = {}
    accounts = 0

    def add(into: dict, rows, sign: int) -> None:
        for currency, category, plain, weighted in rows:
            figures = into.setdefault((currency, category), [Decimal(0), Decimal(0)])
            figures[0] += sign * _exact(plain)
            figures[1] += sign * _exact(weighted)

    applied = _SIGNED.format(
        cat="a.category",
        d="CASE WHEN e.balance_after IS NOT NULL AND e.direction = 'D' THEN e.amount ELSE 0 END",
        c="CASE WHEN e.balance_after IS NOT NULL AND e.direction = 'C' THEN e.amount ELSE 0 END",
    )
    # One statement, so a posting committing meanwhile is in the balances
    # and in the later entries, or in neither (as eod_day's part is).
    for currency, category, n, plain, weighted in _fetch(
        f"""
        SELECT currency, category, SUM(n), SUM(plain), SUM(weighted) FROM (
            SELECT a.currency, a.category, COUNT(*) AS n, SUM(a.balance) AS plain,
                   SUM(a.balance * {weight}) AS weighted
              FROM accounts_account a WHERE a.entity_id = %(entity)s GROUP BY a.currency, a.category
             UNION ALL
            SELECT a.currency, a.category, 0, -SUM({applied}), -SUM(({applied}) * {weight})
              FROM postings_entry e JOIN accounts_account a ON a.id = e.account_id
             WHERE e.accounting_date > %(day)s AND a.entity_id = %(entity)s
             GROUP BY a.currency, a.category) x
         GROUP BY currency, category""",
        d.params,
    ):
        accounts += int(n)
        add(seen, [(currency, category, plain, weighted)], 1)
    own = "COALESCE(g.balance, 0) - COALESCE(g.later_applied, 0)"
    add(
        seen,
        _fetch(
            f"""
            SELECT g.currency, g.category, SUM({own}), SUM(({own}) * {WEIGHT.format(id="g.account_id")})
              FROM {_temp(_DAY)} g WHERE g.of_entity = 1 GROUP BY g.currency, g.category""",
            {},
        ),
        -1,
    )
    expected: dict[tuple[str, str], list[Decimal]] = {}
    for (_, category, currency), figures in previous.items():
        add(expected, [(currency, category, figures[0], figures[1])], 1)
    add(
        expected,
        _fetch(
            f"""
            SELECT g.prev_currency, g.prev_category, SUM(g.prev_closing),
                   SUM(g.prev_closing * {WEIGHT.format(id="g.account_id")})
              FROM {_temp(_DAY)} g WHERE g.prev_subject IS NOT NULL GROUP BY g.prev_currency, g.prev_category""",
            {},
        ),
        -1,
    )
    zero = [Decimal(0), Decimal(0)]
    differs = any(
        [_amount(x) for x in seen.get(key, zero)] != [_amount(x) for x in expected.get(key, zero)]
        for key in set(seen) | set(expected)
    )
    return accounts, differs


@dataclass
class _Sweep:
    """What the sweep found: the day's counts, the totals, each check's failures."""

    sheet_rows: int = 0  # rows of the day's sheet as readers see it (stored and carried)
    day_accounts: int = 0  # stored rows with entries that day
    day_entries: int = 0
    accounts: int = 0  # accounts of the entity
    others_differ: bool = False  # the accounts outside eod_day do not add up to the totals
    failing: dict[str, int] = field(default_factory=dict)
    # currency -> category -> closings of the day's sheet
    closing_by_category: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    # (subject, currency) -> [closing, debit, credit, rows of the day's sheet, previous closing]
    subjects: dict[tuple[str, str], list] = field(default_factory=dict)

    @classmethod
    def of(cls, d: _Day) -> _Sweep:
        previous, totals = _day_totals(d)
        _, day_accounts, day_entries, _, *failing = _sweep_rows(d)
        accounts, others_differ = _others_drift(d, previous)
        sweep = cls(
            day_accounts=int(day_accounts or 0),
            day_entries=int(day_entries or 0),
            accounts=accounts,
            others_differ=others_differ,
            failing={
                name: int(n or 0)
                for name, n in zip(["account_balance", "last_entry", "entry_chain", "live_balance"], failing)
            },
        )
        for (subject, category, currency), (closing, _, debit, credit, rows, _) in totals.items():
            sweep.sheet_rows += int(rows)
            by_category = sweep.closing_by_category.setdefault(currency, {})
            by_category[category] = by_category.get(category, Decimal(0)) + closing
            figures = sweep.subjects.setdefault((subject, currency), [Decimal(0)] * 5)
            figures[0] += closing
            figures[1] += debit
            figures[2] += credit
            figures[3] += int(rows)
        for (subject, _, currency), (closing, *_) in previous.items():
            figures = sweep.subjects.setdefault((subject, currency), [Decimal(0)] * 5)
            figures[4] += closing
        return sweep


def _check_account_balance(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Per account on the sheet: opening = the previous day's closing (0 if
    none) and closing = opening + turnover on the normal side; no account
    that moved with a balance the day before is missing (one that did not
    move has no stored row: it is carried). (That the closing is the last
    entry's balance after is the last_entry check.)"""
    outcome = CheckOutcome("account_balance", checked_rows=sweep.sheet_rows, failures=sweep.failing["account_balance"])
    if outcome.failures:
        rows = _failing_rows(
            d,
            _failing_account_balance(),
            """s.account_id, s.category, s.opening, s.debit,
                             s.credit, s.closing, g.prev_closing""",
        )
        numbers = _account_numbers(r[0] for r in rows)
        for account_id, in_sheet, category, opening, debit, credit, closing, prev_closing in rows:
            before = _amount(prev_closing)
            item = {"account_no": numbers.get(account_id), "account_id": account_id, "previous_closing": _money(before)}
            if in_sheet is None:
                item["problem"] = f"missing from the balance sheet (previous closing {before})"
            else:
                moved = debit - credit if category == "asset" else credit - debit
                problems = []
                if _amount(opening) != before:
                    problems.append(f"opening {_amount(opening)} != previous closing {before}")
                if _amount(closing) != _amount(opening + moved):
                    problems.append(
                        f"closing {_amount(closing)} != opening {_amount(opening)} {_amount(moved):+} turnover"
                    )
                item.update(
                    opening=_money(opening),
                    debit=_money(debit),
                    credit=_money(credit),
                    closing=_money(closing),
                    problem="; ".join(problems),
                )
            outcome.details.append(item)
    outcome.summary = (
        f"{outcome.failures} accounts do not follow from the previous closing and the day's turnover"
        if outcome.failures
        else f"{outcome.checked_rows} accounts: opening + turnover = closing"
    )
    return outcome


def _check_entry_chain(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Every entry of the day continues its account's previous entry (by
    account_seq, whatever that entry's day): balance before = the previous
    balance after (0 for an account's first entry), and balance after =
    before + the amount on the account's normal side. An entry still pending
    (a hot account's leg the flush did not apply: no account_seq, no
    balances) breaks it.

    Only the accounts eod_day marks as suspect can hold a broken entry (see
    ``_day_sql``); their entries are walked here one by one, each previous
    entry being the day's own previous row (LAG) where the sequence is
    unbroken, otherwise looked up by the (account, account_seq) index."""
    outcome = CheckOutcome("entry_chain", checked_rows=sweep.day_entries)
    if sweep.failing["entry_chain"]:
        signed = "CASE WHEN (w.category = 'asset') = (w.direction = 'D') THEN w.amount ELSE -w.amount END"
        rows = _fetch(
            f"""
        WITH day AS MATERIALIZED (
            SELECT e.serial_no, e.account_id, e.account_seq, a.category, e.direction, e.amount,
                   e.balance_before, e.balance_after
            {_DAY_ENTRIES}
               AND e.account_id IN (SELECT g.account_id FROM {_temp(_DAY)} g WHERE g.chain_suspect = 1)
        )
        SELECT w.serial_no, w.account_id, w.account_seq, w.category, w.direction, w.amount, w.balance_before,
               w.balance_after, w.prev_after, COUNT(*) OVER () AS total
          FROM (SELECT v.*,
                       CASE WHEN v.account_seq = 1 THEN 0
                            WHEN v.lag_seq = v.account_seq - 1 THEN v.lag_after
                            ELSE (SELECT p.balance_after FROM postings_entry p
                                   WHERE p.account_id = v.account_id AND p.account_seq = v.account_seq - 1)
                       END AS prev_after
                  FROM (SELECT e.*, LAG(e.account_seq) OVER win AS lag_seq, LAG(e.balance_after) OVER win AS lag_after
                          FROM day e
                        WINDOW win AS (PARTITION BY e.account_id ORDER BY e.account_seq)) v) w
         WHERE w.account_seq IS NULL
            OR {_differs("w.balance_before", "w.prev_after")}
            OR {_differs("w.balance_after", "w.balance_before + " + signed)}
         ORDER BY w.serial_no
         LIMIT %(cap)s""",
            d.params,
        )
        outcome.failures = int(rows[0][-1]) if rows else 0
        numbers = _account_numbers(r[1] for r in rows)
        for serial, account_id, seq, category, direction, amount, before, after, prev_after, _ in rows:
            problems = []
            if seq is None:  # pending: the flush (step 2) should have applied every entry of the day
                problems.append("not applied to the account's balance (no account_seq, balance before or after)")
            elif prev_after is None:
                problems.append(f"previous entry (seq {seq - 1}) is missing")
            elif _amount(before) != _amount(prev_after):
                problems.append(f"balance before {_amount(before)} != previous balance after {_amount(prev_after)}")
            moved = _amount(amount) if (category == "asset") == (direction == "D") else -_amount(amount)
            if seq is not None and _amount(after) != _amount(before) + moved:
                problems.append(f"balance after {_amount(after)} != {_amount(before)} {moved:+}")
            outcome.details.append(
                {
                    "entry": serial,
                    "account_no": numbers.get(account_id),
                    "account_seq": seq,
                    "balance_before": _money(before),
                    "balance_after": _money(after),
                    "previous_balance_after": _money(prev_after),
                    "problem": "; ".join(problems),
                }
            )
    outcome.summary = (
        f"{outcome.failures} entries break their account's chain"
        if outcome.failures
        else f"{outcome.checked_rows} entries chain"
    )
    return outcome


def _check_last_entry(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Each account's closing on the sheet = the balance after of its last
    entry of the day, and its entry count = the day's entries."""
    outcome = CheckOutcome("last_entry", checked_rows=sweep.day_accounts, failures=sweep.failing["last_entry"])
    if outcome.failures:
        rows = _failing_rows(
            d,
            _failing_last_entry(),
            """s.account_id, s.closing, s.entry_count, g.entry_count,
                             g.last_serial, g.last_after""",
        )
        numbers = _account_numbers(r[0] for r in rows)
        for account_id, sheet_account, sheet_closing, sheet_count, n, serial, after in rows:
            if sheet_account is None:
                problem = f"{n} entries but missing from the balance sheet"
            elif after is None:
                problem = f"last entry {serial} is not applied to the account's balance (no balance after)"
            else:
                problems = []
                if _amount(sheet_closing) != _amount(after):
                    problems.append(
                        f"closing {_amount(sheet_closing)} != balance after {_amount(after)} of entry {serial}"
                    )
                if int(sheet_count) != int(n):
                    problems.append(f"entry count {sheet_count} != {n} entries of the day")
                problem = "; ".join(problems)
            outcome.details.append(
                {
                    "account_no": numbers.get(account_id),
                    "account_id": account_id,
                    "entry": serial,
                    "closing": _money(sheet_closing),
                    "last_balance_after": _money(after),
                    "problem": problem,
                }
            )
    outcome.summary = (
        f"{outcome.failures} accounts' closings differ from their last entry"
        if outcome.failures
        else f"{outcome.checked_rows} accounts close at their last entry's balance"
    )
    return outcome


def _check_live_balance(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Each account's stored balance = the day's closing + the turnover
    posted after the day that is applied to it (a hot account's buffered
    entries are not yet: balance + pending = closing + all turnover since).
    The sheet agrees with the balances the ledger holds now. (Balances and
    later entries are read by one statement, so a posting committing
    meanwhile is seen in both or neither.) The day's movers are compared one
    by one; the others through their sums (``_others_drift``), and one by
    one only when those differ."""
    outcome = CheckOutcome("live_balance", checked_rows=sweep.accounts, failures=sweep.failing["live_balance"])
    if outcome.failures or sweep.others_differ:
        # eod_day's accounts as in the sweep; the others (only now: a probe
        # each) against their latest stored row on or before the day.
        rows = _fetch(
            f"""
            SELECT account_id, balance, closing, later_applied, later_pending, COUNT(*) OVER ()
              FROM (SELECT COALESCE(g.account_id, s.account_id) AS account_id, g.balance, s.closing,
                           g.later_applied, g.later_pending
                      FROM {_joined(d)} WHERE ({_failing_live_balance()}) = 1
                    UNION ALL
                    SELECT o.account_id, o.balance, x.closing, o.later_applied, o.later_pending
                      FROM ({_others_sql(d)}) o
                      LEFT JOIN LATERAL (SELECT b.closing FROM reports_dailybalance b
                                          WHERE b.account_id = o.account_id AND b.accounting_date <= %(day)s
                                          ORDER BY b.accounting_date DESC LIMIT 1) x ON true
                     WHERE {_differs("o.balance", "COALESCE(x.closing, 0) + COALESCE(o.later_applied, 0)")}) f
             ORDER BY account_id
             LIMIT %(cap)s""",
            d.params,
        )
        outcome.failures = int(rows[0][-1]) if rows else 0
        numbers = _account_numbers(r[0] for r in rows)
        for account_id, balance, closing, applied, pending, _ in rows:
            c, p = _amount(closing), _amount(pending)
            m = _amount(applied) + p
            item = {
                "account_no": numbers.get(account_id),
                "account_id": account_id,
                "balance": _money(balance),
                "closing": _money(c),
                "later_turnover": _money(m),
            }
            if p:
                item["pending"] = _money(p)
                item["problem"] = f"balance {_amount(balance)} + {p} pending != closing {c} {m:+} posted since"
            else:
                item["problem"] = f"balance {_amount(balance)} != closing {c} {m:+} posted since"
            outcome.details.append(item)
    outcome.summary = (
        f"{outcome.failures} accounts' balances do not follow from the day's closing"
        if outcome.failures
        else f"{outcome.checked_rows} balances follow from the day's closing"
    )
    return outcome


def _drifts(candidates: str, function: str, d: _Day, **params) -> tuple[int, int, list[tuple[int, str]]]:
    """Ask ``function`` (one of postings/sql/account_guards.sql's, which the
    COMMIT triggers ask too) of each id ``candidates`` selects: how many were
    checked, how many failed, and the first failures (id, problem) by id."""
    rows = _fetch(
        f"""
        WITH checked AS MATERIALIZED (SELECT c.id, {function}(c.id) AS problem FROM ({candidates}) c)
        SELECT r.checked, r.failures, r.id, r.problem FROM (
            SELECT count(*) AS checked, count(x.problem) AS failures, NULL::bigint AS id, NULL::text AS problem
              FROM checked x
             UNION ALL
            (SELECT NULL, NULL, x.id, x.problem FROM checked x WHERE x.problem IS NOT NULL
              ORDER BY x.id LIMIT %(cap)s)) r
         ORDER BY r.id NULLS FIRST""",
        {**d.params, "active": list(ACTIVE_HOLD_STATUSES), **params},
    )
    (checked, failures, _, _), *failing = rows
    return int(checked), int(failures), [(i, problem) for _, _, i, problem in failing]


def _check_frozen_holds(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Each account with money frozen or an active hold: frozen = the sum of
    its active holds' remaining amounts (``ledger_frozen_drift``). A COMMIT
    refuses anything else; this finds what got past the triggers (a
    superuser's session_replication_role = replica, docs/operations.md)."""
    checked, failures, failing = _drifts(
        """SELECT a.id FROM accounts_account a WHERE a.entity_id = %(entity)s AND a.frozen <> 0
            UNION
           SELECT h.account_id FROM postings_hold h JOIN accounts_account a ON a.id = h.account_id
            WHERE a.entity_id = %(entity)s AND h.status = ANY(%(active)s)""",
        "ledger_frozen_drift",
        d,
    )
    outcome = CheckOutcome("frozen_holds", checked_rows=checked, failures=failures)
    numbers = _account_numbers(account_id for account_id, _ in failing)
    outcome.details = [
        {"account_no": numbers.get(account_id), "account_id": account_id, "problem": problem}
        for account_id, problem in failing
    ]
    outcome.summary = (
        f"{failures} accounts' frozen amounts differ from their active holds"
        if failures
        else f"{checked} accounts: frozen = what their active holds have remaining"
    )
    return outcome


def _check_hold_events(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Every hold of the entity's accounts that is active, or had an event
    since the day before the day checked, agrees with its events
    (``ledger_hold_drift``): one freeze of its amount, remaining = amount -
    settled - released, the status its last event says.

    Not every hold ever placed: the cost follows the open holds and the
    day's activity, not the ledger's history. A hold closed before that
    holds nothing (the CHECK constraints, which no trigger switch bypasses,
    keep a closed hold's remaining at 0), so what a forgery of it could
    change moves no money; a forgery that reopens it makes it active, and
    checked."""
    since = timezone.make_aware(datetime.combine(d.day - timedelta(days=1), dt_time.min))
    checked, failures, failing = _drifts(
        """SELECT h.id FROM postings_hold h JOIN accounts_account a ON a.id = h.account_id
            WHERE a.entity_id = %(entity)s AND h.status = ANY(%(active)s)
            UNION
           SELECT h.id FROM postings_holdevent ev JOIN postings_hold h ON h.id = ev.hold_id
             JOIN accounts_account a ON a.id = h.account_id
            WHERE a.entity_id = %(entity)s AND ev.created_at >= %(since)s""",
        "ledger_hold_drift",
        d,
        since=since,
    )
    outcome = CheckOutcome("hold_events", checked_rows=checked, failures=failures)
    holds = {h.pk: h for h in Hold.objects.filter(pk__in=[i for i, _ in failing]).select_related("account")}
    for hold_id, problem in failing:
        hold = holds[hold_id]
        outcome.details.append(
            {
                "hold": hold_id,
                "account_no": hold.account.account_no,
                "amount": _money(hold.amount),
                "remaining": _money(hold.remaining),
                "status": hold.status,
                "problem": problem,
            }
        )
    outcome.summary = (
        f"{failures} holds do not follow from their events" if failures else f"{checked} holds follow from their events"
    )
    return outcome


def _escrow_accounts(d: _Day) -> list[tuple]:
    """(account id, number, live balance, sum of its open orders' balances,
    open orders) of each escrow account of the entity: the ESCROW accounts
    and any account an order holds its money in. One statement, so the
    balance and the orders are read at one instant."""
    return _fetch(
        """
        SELECT a.id, a.account_no, a.balance, COALESCE(o.held, 0), COALESCE(o.n, 0)
          FROM accounts_account a
          JOIN accounts_accounttype t ON t.id = a.account_type_id
          LEFT JOIN (SELECT escrow_account_id, SUM(balance) AS held, count(*) AS n
                       FROM postings_guaranteeorder WHERE status = ANY(%(open)s)
                      GROUP BY escrow_account_id) o ON o.escrow_account_id = a.id
         WHERE a.entity_id = %(entity)s
           AND (t.code = 'ESCROW' OR EXISTS (SELECT 1 FROM postings_guaranteeorder g WHERE g.escrow_account_id = a.id))
         ORDER BY a.id""",
        {**d.params, "open": list(OPEN_ORDER_STATUSES)},
    )


def _postings_outside_orders(d: _Day, account_id: int) -> list[int]:
    """Postings on an escrow account that no order step made (asked only of
    an account whose balance is not its orders')."""
    rows = _fetch(
        """
        SELECT DISTINCT e.posting_id FROM postings_entry e
         WHERE e.account_id = %(account)s
           AND NOT EXISTS (SELECT 1 FROM postings_orderevent ev WHERE ev.posting_id = e.posting_id)
         ORDER BY e.posting_id LIMIT %(cap)s""",
        {**d.params, "account": account_id},
    )
    return [posting_id for (posting_id,) in rows]


def _check_escrow_orders(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """担保户核对: each escrow account's balance = the sum of its open
    guarantee orders' balances, and every order open, or with a step since
    the day before, agrees with its events (``ledger_order_drift``, which
    the COMMIT triggers ask too: postings/sql/orders.sql). A failing account
    names the orders that break it and the postings on it no order made."""
    since = timezone.make_aware(datetime.combine(d.day - timedelta(days=1), dt_time.min))
    checked, order_failures, failing = _drifts(
        """SELECT o.id FROM postings_guaranteeorder o WHERE o.entity_id = %(entity)s AND o.status = ANY(%(open)s)
            UNION
           SELECT ev.order_id FROM postings_orderevent ev JOIN postings_guaranteeorder o ON o.id = ev.order_id
            WHERE o.entity_id = %(entity)s AND ev.created_at >= %(since)s""",
        "ledger_order_drift",
        d,
        since=since,
        open=list(OPEN_ORDER_STATUSES),
    )
    orders = {
        o.pk: o for o in GuaranteeOrder.objects.filter(pk__in=[i for i, _ in failing]).select_related("escrow_account")
    }
    accounts = _escrow_accounts(d)
    outcome = CheckOutcome("escrow_orders", checked_rows=checked + len(accounts))
    for account_id, account_no, balance, held, n in accounts:
        if _amount(balance) == _amount(held):
            continue
        outcome.details.append(
            {
                "account_no": account_no,
                "balance": _money(balance),
                "open_orders": n,
                "open_orders_balance": _money(held),
                "difference": _money(Decimal(balance) - Decimal(held)),
                "orders": [f"O{o.pk} {o.order_no}" for o in orders.values() if o.escrow_account_id == account_id],
                "postings_outside_orders": _postings_outside_orders(d, account_id),
            }
        )
    for order_id, problem in failing:
        order = orders[order_id]
        outcome.details.append(
            {
                "order": order_id,
                "order_no": order.order_no,
                "account_no": order.escrow_account.account_no,
                "balance": _money(order.balance),
                "status": order.status,
                "problem": problem,
            }
        )
    accounts_off = len(outcome.details) - len(failing)
    outcome.failures = accounts_off + order_failures
    outcome.summary = (
        f"{accounts_off} escrow accounts differ from their open orders; {order_failures} orders do not follow "
        "from their events"
        if outcome.failures
        else f"{len(accounts)} escrow accounts = their open orders' balances; {checked} orders follow from their events"
    )
    return outcome


def _lines_by_currency(d: _Day) -> list[tuple]:
    """(currency, debit, credit, entries) of the day's entries, from eod_lines."""
    return _fetch(
        f"""
        SELECT currency, SUM(CASE WHEN direction = 'D' THEN amount ELSE 0 END),
               SUM(CASE WHEN direction = 'C' THEN amount ELSE 0 END), SUM(entry_count)
          FROM {_temp(_LINES)} GROUP BY currency ORDER BY currency""",
        {},
    )


def _check_debits_credits(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Per currency: the day's debits equal its credits. On a difference,
    the postings of the day that do not balance are named."""
    totals = _lines_by_currency(d)
    outcome = CheckOutcome("debits_credits", checked_rows=sum(int(r[3]) for r in totals))
    unequal = []
    for currency, debit, credit, _ in totals:
        if _amount(debit) != _amount(credit):
            unequal.append(currency)
            outcome.details.append(
                {
                    "currency": currency,
                    "debit": _money(debit),
                    "credit": _money(credit),
                    "difference": _money(_amount(debit) - _amount(credit)),
                }
            )
    if not unequal:
        outcome.summary = ", ".join(f"{c} debits = credits = {_money(dr)}" for c, dr, _, _ in totals) or "no entries"
        return outcome
    postings = _fetch(
        f"""
        SELECT e.posting_id, e.currency,
               SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE 0 END),
               SUM(CASE WHEN e.direction = 'C' THEN e.amount ELSE 0 END),
               COUNT(*) OVER () AS total
        {_DAY_ENTRIES}
         GROUP BY e.posting_id, e.currency
        HAVING {_differs("SUM(CASE WHEN e.direction = 'D' THEN e.amount ELSE -e.amount END)", "0")}
         ORDER BY e.posting_id
         LIMIT %(cap)s""",
        d.params,
    )
    entries_of: dict[int, list[int]] = {}
    for posting_id, serial in (
        Entry.objects.filter(posting_id__in=[p[0] for p in postings])
        .order_by("serial_no")
        .values_list("posting_id", "serial_no")
    ):
        entries_of.setdefault(posting_id, []).append(serial)
    for posting_id, currency, debit, credit, _ in postings:
        outcome.details.append(
            {
                "posting": posting_id,
                "currency": currency,
                "debit": _money(debit),
                "credit": _money(credit),
                "entries": entries_of.get(posting_id, []),
            }
        )
    outcome.failures = len(unequal) + (postings[0][-1] if postings else 0)
    outcome.summary = (
        "debits != credits in " + ", ".join(unequal) + (f"; {postings[0][-1]} unbalanced postings" if postings else "")
    )
    return outcome


def _check_identity(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """Per currency, from the day's closings: sum(asset) = sum(liability) + sum(internal)."""
    outcome = CheckOutcome("identity", checked_rows=sweep.sheet_rows)
    parts = []
    for currency in sorted(sweep.closing_by_category):
        by_category = sweep.closing_by_category[currency]
        asset, liability, internal = (_amount(by_category.get(c)) for c in ("asset", "liability", "internal"))
        difference = asset - liability - internal
        parts.append(
            f"{currency} {asset} = {liability} + {internal}" if not difference else f"{currency} off by {difference}"
        )
        if difference:
            outcome.failures += 1
            outcome.details.append(
                {
                    "currency": currency,
                    "asset": _money(asset),
                    "liability": _money(liability),
                    "internal": _money(internal),
                    "difference": _money(difference),
                }
            )
    outcome.summary = "; ".join(parts) or "no balances"
    return outcome


def _check_subject_totals(d: _Day, sweep: _Sweep) -> CheckOutcome:
    """总分核对: per subject and currency, the sum of its accounts' closings
    equals the subject computed on its own, the previous subject closing plus
    the day's subject turnover from the entries (eod_lines, summed apart
    from the per-account pass); and the accounts' debit and credit turnover
    add up to the subject's."""
    subjects = {key: list(figures) + [Decimal(0)] * 3 for key, figures in sweep.subjects.items()}
    for subject, category, direction, _, currency, amount, _, _, _ in _fetch(f"SELECT * FROM {_temp(_LINES)}", {}):
        figures = subjects.setdefault((subject, currency), [Decimal(0)] * 8)
        amount = _exact(amount)
        figures[5] += amount if (category == "asset") == (direction == "D") else -amount
        figures[6 if direction == "D" else 7] += amount
    outcome = CheckOutcome("subject_totals", checked_rows=len(subjects))
    for (subject, currency), figures in sorted(subjects.items()):
        closing, debit, credit, accounts, previous, moved, entry_debit, entry_credit = figures
        closing, subject_total = _amount(closing), _amount(previous) + _amount(moved)
        problems = []
        if closing != subject_total:
            problems.append(f"accounts {closing} != subject {subject_total}")
        if _amount(debit) != _amount(entry_debit) or _amount(credit) != _amount(entry_credit):
            problems.append(
                f"accounts' turnover Dr {_amount(debit)} Cr {_amount(credit)} != entries' "
                f"Dr {_amount(entry_debit)} Cr {_amount(entry_credit)}"
            )
        if problems:
            outcome.failures += 1
            outcome.details.append(
                {
                    "subject_code": subject,
                    "currency": currency,
                    "accounts": int(accounts),
                    "accounts_closing": _money(closing),
                    "subject_closing": _money(subject_total),
                    "difference": _money(closing - subject_total),
                    "problem": "; ".join(problems),
                }
            )
    outcome.summary = (
        f"{outcome.failures} of {len(subjects)} subjects differ from their accounts"
        if outcome.failures
        else f"{len(subjects)} subjects agree with their accounts"
    )
    return outcome


# In the order they are stored. Each reads the sweep; a failing one queries its details.
CHECKS: list[Callable[[_Day, _Sweep], CheckOutcome]] = [
    _check_account_balance,
    _check_entry_chain,
    _check_last_entry,
    _check_debits_credits,
    _check_identity,
    _check_subject_totals,
    _check_live_balance,
    _check_frozen_holds,
    _check_hold_events,
    _check_escrow_orders,
]
CHECK_NAMES = [
    "account_balance",
    "entry_chain",
    "last_entry",
    "debits_credits",
    "identity",
    "subject_totals",
    "live_balance",
    "frozen_holds",
    "hold_events",
    "escrow_orders",
]


def checks_run(*, entity: Entity, accounting_date: date, run: EodRun | None = None) -> list[CheckResult]:
    """Run every check of ``CHECKS`` on the day's stored balance sheet and its
    entries and store one ``CheckResult`` each, replacing the day's earlier
    results. Needs the day's balance sheet (``balance_sheet_build``)."""
    with _day_tables(), transaction.atomic():
        _tune_session()
        d = _day_of(entity, accounting_date)
        _day_build(d)
        _lines_build(d)
        sweep = _Sweep.of(d)
        outcomes = [check(d, sweep) for check in CHECKS]
        CheckResult.objects.filter(entity=entity, accounting_date=accounting_date).delete()
        return CheckResult.objects.bulk_create(
            [
                CheckResult(
                    entity=entity,
                    accounting_date=accounting_date,
                    run=run,
                    check_name=o.name,
                    passed=o.passed,
                    checked_rows=o.checked_rows,
                    details=o.details[:DETAILS_CAP],
                    summary=o.summary[:255],
                )
                for o in outcomes
            ]
        )
