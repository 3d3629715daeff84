"""posting_create_batch: many independent postings, one call or a few statements."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from django.conf import settings
from django.db import IntegrityError

from accounts.exceptions import UnknownAccount
from accounts.kernel.errors import IdempotencyConflict, LedgerError, LedgerValidationError
from accounts.kernel.idempotency import check_request_no, replay
from accounts.kernel.metadata import clean_metadata, clean_trade_no
from accounts.models import Account

from ..models import Posting
from .db import _hot_cursor
from .drafts import DEFAULT_SOURCE, Leg, _Draft, _metadata_text
from .full_path import _insert_entries, _insert_postings, _prepare_posting, _save_balances
from .locking import _lock_accounts
from .one_call import (
    _call,
    _count_full_path,
    _FullPath,
    _one_call_arguments,
    _one_call_on,
    _one_call_or_full_path,
    _written_posting,
)
from .postings import _posting_fingerprint, posting_create
from .refusals import _balance_detail, _refusal


@dataclass(frozen=True)
class PostingRequest:
    """One posting of a batch, as ``posting_create`` takes it."""

    request_no: str
    business_type: str
    legs: Sequence[Leg]
    memo: str = ""
    currency: str | None = None
    external_ref: str = ""
    trade_no: str | None = None
    metadata: dict | None = None


def _item_metadata(item: PostingRequest) -> dict:
    # Checked with the item's fingerprint; a copy, as clean_metadata stores it.
    return dict(item.metadata or {})


@dataclass
class BatchResult:
    request_no: str
    posting: Posting | None = None  # ``posting.replayed`` tells a replay
    error: LedgerError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BatchRun:
    """A batch on its way through posting_create_batch: its items, each
    item's fingerprint (by position), one result per item (filled in as the
    items are written or refused), who posts from which source system, and
    ``todo``: the positions of the items left to write, in batch order."""

    items: Sequence[PostingRequest]
    fingerprints: dict[int, str]
    results: list[BatchResult]
    posted_by: str
    source_system: str
    todo: list[int] = field(default_factory=list)

    def only(self, todo: list[int]) -> BatchRun:
        """The same batch, for the items of ``todo`` (the results are shared)."""
        return replace(self, todo=todo)


def posting_create_batch(
    items: Sequence[PostingRequest], *, posted_by: str, source_system: str = DEFAULT_SOURCE
) -> list[BatchResult]:
    """Post many independent postings (批量记账); one result per item, in order.

    Each item is its own posting with its own request number: a replay
    answers the original, a conflict or a refusal (insufficient funds, a
    blocked account, ...) fails that item only. The happy path takes a
    handful of round trips for the whole batch: one lookup of earlier
    requests, one lock of every real-time account touched (in id order),
    one INSERT of the postings, one of the entries, one UPDATE of the
    balances, one COMMIT; or, when every item is plainly allowed, one call
    of ledger_post_batch (see "One call" in one_call.py) after the lookup; an item the call
    does not take goes alone down the full path (_batch_post). Items are
    applied in order, so a later item sees the balances an earlier one
    left. If a concurrent caller commits one of the same request numbers
    meanwhile (the unique key fails the INSERT), that part of the batch is
    rolled back and its items are posted one by one, where each race is
    settled as ``posting_create`` settles it.
    """
    if len(items) > settings.POSTING_BATCH_MAX:
        raise LedgerValidationError(
            f"A batch takes at most {settings.POSTING_BATCH_MAX} postings; {len(items)} given.", postings=len(items)
        )
    results = [BatchResult(getattr(item, "request_no", "")) for item in items]
    fingerprints: dict[int, str] = {}
    first_of: dict[str, int] = {}
    repeats: dict[int, int] = {}
    for i, item in enumerate(items):
        try:
            check_request_no(item.request_no)
            fingerprint = _posting_fingerprint(
                business_type=item.business_type,
                legs=item.legs,
                memo=item.memo,
                currency=item.currency,
                external_ref=item.external_ref,
                corrects_date=None,
                trade_no=clean_trade_no(item.trade_no),
                metadata=clean_metadata(item.metadata),
            )
        except LedgerError as exc:
            results[i].error = exc
            continue
        if item.request_no in first_of:
            repeats[i] = first_of[item.request_no]
            fingerprints[i] = fingerprint
            continue
        first_of[item.request_no] = i
        fingerprints[i] = fingerprint

    earlier = {p.request_no: p for p in _postings_of_requests(source_system, list(first_of))}
    todo = []
    for request_no, i in first_of.items():
        if request_no in earlier:
            try:
                results[i].posting = replay(earlier[request_no], fingerprints[i], "posting")
            except IdempotencyConflict as exc:
                results[i].error = exc
        else:
            todo.append(i)

    _batch_post(BatchRun(items, fingerprints, results, posted_by, source_system, todo))

    # As in _idempotent: an item refused because a concurrent caller's first
    # attempt of the same request committed meanwhile was in fact done.
    refused = {results[i].request_no: i for i in todo if results[i].error is not None}
    if refused:
        for posting in _postings_of_requests(source_system, list(refused)):
            i = refused[posting.request_no]
            try:
                results[i] = BatchResult(posting.request_no, posting=replay(posting, fingerprints[i], "posting"))
            except IdempotencyConflict as exc:
                results[i] = BatchResult(posting.request_no, error=exc)

    for i, first in repeats.items():
        original = results[first]
        if fingerprints[i] != fingerprints[first]:
            results[i].error = IdempotencyConflict(
                f"Request {items[i].request_no} appears twice in the batch with different content.",
                request_no=items[i].request_no,
            )
        elif original.posting is not None:
            results[i].posting = copy.copy(original.posting)
            results[i].posting.replayed = True
        else:
            results[i].error = original.error
    return results


# Each call of ledger_post_batch evaluates every item it is given, so a batch
# dense with refusals costs a call per refusal. A call that wrote fewer than
# _BATCH_RUN_MIN items before stopping, or the _BATCH_CALLS_MAX-th call, sends
# the items left down the full path together instead (bench/README.md,
# "Batches with a refused item").
_BATCH_CALLS_MAX = 4
_BATCH_RUN_MIN = 10


def _batch_post(run: BatchRun) -> None:
    """The items of ``todo``, in order. One call of ledger_post_batch writes
    the items up to the first one it does not take (see "One call" in one_call.py); that
    item goes alone down the full path, which posts or refuses it with its
    error, and the items after it go on in a new call. So each item sees
    what the items before it left, and a rare refusal does not send a whole
    batch down the slower path. When refusals come thick (see
    _BATCH_RUN_MIN), or without the one call (off, or refused for the batch
    as a whole), the items left take the full path together."""
    todo = run.todo
    if not _one_call_on():
        _batch_part(run, one_call=False)
        return
    for _ in range(_BATCH_CALLS_MAX):
        if not todo:
            return
        stopped_at = _batch_part(run.only(todo), one_call=True)
        if stopped_at is None:
            return
        todo = todo[stopped_at:]
        if stopped_at < _BATCH_RUN_MIN:
            break
        _count_full_path("batch_item_not_taken")
        _batch_part(run.only(todo[:1]), one_call=False)
        todo = todo[1:]
    if todo:
        _count_full_path("batch_items_left", len(todo))
        _batch_part(run.only(todo), one_call=False)


def _batch_part(run: BatchRun, *, one_call: bool) -> int | None:
    """Where the one call stopped (see _batch_in_one_call), or None: all done."""
    try:
        return _one_call_or_full_path(
            (lambda: _batch_in_one_call(run)) if one_call else None,
            lambda: _batch_write(run),
        )
    except IntegrityError:
        # A concurrent caller committed one of these request numbers: each
        # item on its own, where posting_create settles the race.
        for i in run.todo:
            item = run.items[i]
            result = run.results[i] = BatchResult(item.request_no)
            try:
                result.posting = posting_create(
                    request_no=item.request_no,
                    business_type=item.business_type,
                    legs=item.legs,
                    posted_by=run.posted_by,
                    source_system=run.source_system,
                    memo=item.memo,
                    currency=item.currency,
                    external_ref=item.external_ref,
                    trade_no=item.trade_no,
                    metadata=item.metadata,
                )
            except LedgerError as exc:
                result.error = exc
    return None


_BATCH_ONE_CALL_SQL = (
    "SELECT * FROM ledger_post_batch(%s, %s, %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::numeric[], %s::text[], "
    "%s::text[]::jsonb[])"
)


def _batch_in_one_call(run: BatchRun) -> int | None:
    """The items of ``todo`` by one call of ledger_post_batch, up to the
    first one it does not take; returns that one's position in ``todo``, or
    None when all are written. Each item is checked here as
    _one_call_arguments checks a lone posting (the call gets only the items
    before the first that fails that), and in the database as _batch_write
    would check it. _FullPath, and nothing written, when the function
    refuses the batch as a whole."""
    items, todo, fingerprints, results = run.items, run.todo, run.fingerprints, run.results
    posted_by, source_system = run.posted_by, run.source_system
    request_nos, business_types, currencies, memos, external_refs, too_coarse = [], [], [], [], [], []
    trade_nos, metadatas = [], []
    leg_items, account_nos, directions, amounts = [], [], [], []
    stopped_at = None
    for k, i in enumerate(todo, start=1):
        item = items[i]
        try:
            item_accounts, item_directions, item_amounts, currency, coarse = _one_call_arguments(
                item.legs, item.currency
            )
        except _FullPath:
            stopped_at = k - 1
            break
        request_nos.append(item.request_no)
        business_types.append(item.business_type)
        currencies.append(currency or "")
        memos.append(item.memo[:255])
        external_refs.append(item.external_ref)
        too_coarse.append(",".join(coarse))
        # Checked with the item's fingerprint (posting_create_batch).
        trade_nos.append(item.trade_no)
        metadatas.append(_metadata_text(item.metadata))
        leg_items += [k] * len(item_accounts)
        account_nos += item_accounts
        directions += item_directions
        amounts += item_amounts
    if not request_nos:
        return stopped_at
    params = [
        source_system,
        posted_by,
        request_nos,
        [fingerprints[i] for i in todo[: len(request_nos)]],
        business_types,
        currencies,
        memos,
        external_refs,
        too_coarse,
        leg_items,
        account_nos,
        directions,
        amounts,
        trade_nos,
        metadatas,
    ]
    # Binary: psycopg dumps long lists of text about three times faster that way.
    written = {row[0]: row[1:] for row in _call(_BATCH_ONE_CALL_SQL, params, binary=True)}
    # The function writes the items from the first on, up to one it does not take.
    if len(written) < len(request_nos):
        stopped_at = len(written)
    for k, i in enumerate(todo[: len(written)]):
        serial_no, accounting_date, entity_id, currency, created_at = written[request_nos[k]]
        posting = _written_posting(
            serial_no=serial_no,
            source_system=source_system,
            request_no=request_nos[k],
            fingerprint=fingerprints[i],
            business_type=business_types[k],
            entity_id=entity_id,
            currency=currency,
            accounting_date=accounting_date,
            memo=memos[k],
            external_ref=external_refs[k],
            posted_by=posted_by,
            created_at=created_at,
            trade_no=trade_nos[k],
            metadata=_item_metadata(items[i]),
        )
        posting.replayed = False
        results[i].posting = posting
    return stopped_at


# One probe of the unique key per request number. As "source_system = %s AND
# request_no IN (...)" the planner may read every posting of the source system
# and filter, when its statistics are stale: 85 ms for 100 request numbers
# among 300,000 postings (bench/README.md, throughput, "Latest figures"). An
# equality on the whole unique key is always an index probe.
_POSTINGS_OF_REQUESTS_SQL = """
    SELECT p.* FROM unnest(%s::text[]) AS r(request_no)
     CROSS JOIN LATERAL (SELECT * FROM postings_posting x
                          WHERE x.source_system = %s AND x.request_no = r.request_no) AS p
"""


def _postings_of_requests(source_system: str, request_nos: list[str]) -> list[Posting]:
    if not request_nos:
        return []
    return list(Posting.objects.raw(_POSTINGS_OF_REQUESTS_SQL, [request_nos, source_system]))


# The first item of a batch written by the full path whose balances the sign
# rule (posting_rules.sql) refuses: each item's touched accounts as the item
# leaves them, in item order.
_BATCH_SIGN_RULE_SQL = """
    SELECT v.ord, r.code
      FROM unnest(%s::int[], %s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[], %s::text[]) WITH ORDINALITY
           AS v(item, id, balance, frozen, used_before, business_type, ord)
      JOIN accounts_account a ON a.id = v.id
     CROSS JOIN LATERAL ledger_balance_refusal(a.category, a.allow_negative, v.balance, v.frozen, a.credit_limit,
                                               v.used_before, v.business_type)
           AS r(code)
     WHERE r.code IS NOT NULL
     ORDER BY v.ord
     LIMIT 1
"""


def _batch_write(run: BatchRun) -> None:
    """The batch's full path, inside its transaction (see posting_create_batch).

    The items are applied in order in memory, then one statement asks the
    sign rule of each item's balances; when it refuses an item, that item
    gets its error and the items after it are applied again without it (one
    more statement per such refusal)."""
    items, todo, fingerprints, results = run.items, run.todo, run.fingerprints, run.results
    posted_by, source_system = run.posted_by, run.source_system
    account_nos = {str(leg.account_no) for i in todo for leg in items[i].legs}
    drafts = [_Draft(items[i].legs, items[i].currency) for i in todo]
    try:
        accounts, refusals = _lock_accounts(account_nos, drafts)
    except UnknownAccount:
        # Some item names an account that does not exist: that item fails,
        # the others go on with the accounts that do.
        known = set(Account.objects.filter(account_no__in=account_nos).values_list("account_no", flat=True))
        accounts, refusals = _lock_accounts(known, drafts)
    refusals_of = dict(zip(todo, refusals))
    accounts_by_pk = {a.pk: a for a in accounts.values()}
    start = {a.pk: (a.balance, a.frozen, a.entry_seq) for a in accounts.values()}
    open_dates: dict[int, date] = {}
    refused: set[int] = set()
    while True:
        for account in accounts.values():
            account.balance, account.frozen, account.entry_seq = start[account.pk]
        postings, entries, touched, written, states = [], [], {}, [], [[], [], [], [], [], []]
        for i in todo:
            if i in refused:
                continue
            item = items[i]
            missing = sorted({str(leg.account_no) for leg in item.legs} - accounts.keys())
            if missing:
                results[i].error = UnknownAccount(f"No account {', '.join(missing)}.", account_no=",".join(missing))
                refused.add(i)
                continue
            mine = {str(leg.account_no): accounts[str(leg.account_no)] for leg in item.legs}
            before = {a.pk: (a.balance, a.frozen, a.entry_seq) for a in mine.values()}
            try:
                draft = _prepare_posting(
                    source_system=source_system,
                    request_no=item.request_no,
                    fingerprint=fingerprints[i],
                    business_type=item.business_type,
                    legs=item.legs,
                    accounts=mine,
                    posted_by=posted_by,
                    memo=item.memo,
                    currency=item.currency,
                    accounting_date=None,
                    external_ref=item.external_ref,
                    open_dates=open_dates,
                    refusals=refusals_of[i],
                    trade_no=item.trade_no,
                    metadata=_item_metadata(item),
                )
            except LedgerError as exc:
                for account in mine.values():
                    account.balance, account.frozen, account.entry_seq = before[account.pk]
                results[i].error = exc
                refused.add(i)
                continue
            postings.append(draft.posting)
            entries.extend(draft.entries)
            touched.update((a.pk, a) for a in draft.touched)
            written.append(i)
            for account in draft.touched:
                used_before = before[account.pk][0] + before[account.pk][1]
                row = (i, account.pk, account.balance, account.frozen, used_before, item.business_type)
                for column, value in zip(states, row):
                    column.append(value)
        if not states[0]:
            break
        with _hot_cursor() as cursor:
            cursor.execute(_BATCH_SIGN_RULE_SQL, states, prepare=True)
            row = cursor.fetchone()
        if row is None:
            break
        at, code = row
        i, account = states[0][at - 1], copy.copy(accounts_by_pk[states[1][at - 1]])
        account.balance, account.frozen = states[2][at - 1], states[3][at - 1]
        results[i].error = _refusal(code, _balance_detail(account))
        refused.add(i)
    if not postings:
        return
    _insert_postings(postings)
    _insert_entries(entries)
    if touched:
        _save_balances(list(touched.values()))
    for i, posting in zip(written, postings):
        posting.replayed = False
        results[i].posting = posting
