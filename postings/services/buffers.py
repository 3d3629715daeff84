"""Hot accounts (热点账户): buffered posting and the flush (缓冲/汇总记账).

An internal account such as a channel's clearing account or the fee income
account sits on one side of nearly every posting. Locked per posting it
would make every posting in the system wait for the one before it. So an
account (or an account type) can be *buffered*:

* A posting's leg on a buffered account is written in the posting's own
  transaction as a *pending* entry (``account_seq`` and the balances NULL),
  and the account's row is neither locked nor updated. The posting is as
  durable and as balanced as any other; only the hot account's stored
  balance lags.
* Only legs that can never break the sign rule are buffered: legs that raise
  the balance, and any leg on an account that may go negative. Anything else
  needs the balance checked at posting time and is refused
  (``BufferedDebitRefused``): freeze first, then settle, as docs/domain.md says.
* The flush applies pending entries per account in order (accounting date,
  then serial number), in batches: it locks the account row, gives each
  entry of the batch its sequence number and exact balance before and after,
  and updates the balance once, all in one transaction. The row lock makes
  concurrent flushes of one account take turns, and the entries' own guard
  (``account_seq IS NULL`` in the UPDATE, checked against the row count)
  means an entry is applied once or the batch rolls back. A flush killed
  mid-batch loses its transaction and nothing else.
* A balance read shows posted + pending (``postings.selectors``), and the
  identity counts pending entries, so the books balance at every moment.

The flush runs from Celery beat every few seconds, on demand (admin, the
``buffers_flush`` command) and as step 2 of the end of day, for the day
being closed.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.kernel.errors import LedgerError, LedgerValidationError
from accounts.models import Account, AccountPostingModeChange, AccountType, Entity, PostingMode

from ..balances import balances_write
from ..models import Entry

# The name the flush always logged under (before it moved into postings.services).
logger = logging.getLogger("postings.buffers")


class FlushRaced(LedgerError):
    """An entry of the batch was applied by someone else meanwhile: the batch
    is rolled back. Cannot happen while flushes take the account lock; kept as
    the guard that makes double application impossible, not just unlikely."""

    code = "flush_raced"


def _pending(*, entity: Entity | None = None, up_to: date | None = None, account_ids=None):
    qs = Entry.objects.filter(account_seq__isnull=True)
    if entity is not None:
        qs = qs.filter(account__entity=entity)
    if up_to is not None:
        qs = qs.filter(accounting_date__lte=up_to)
    if account_ids is not None:
        qs = qs.filter(account_id__in=list(account_ids))
    return qs


def buffers_flush(
    *,
    entity: Entity | None = None,
    up_to: date | None = None,
    account_ids=None,
    batch_size: int | None = None,
) -> int:
    """Apply pending entries (of ``entity``, dated up to ``up_to``, of the
    given accounts: each filter optional). Returns how many were applied."""
    batch_size = batch_size or settings.BUFFER_FLUSH_BATCH
    accounts = sorted(
        set(_pending(entity=entity, up_to=up_to, account_ids=account_ids).values_list("account_id", flat=True))
    )
    applied = 0
    for account_id in accounts:
        while True:
            n = _flush_batch(account_id, up_to=up_to, batch_size=batch_size)
            applied += n
            if n < batch_size:
                break
    return applied


def _flush_batch(account_id: int, *, up_to: date | None, batch_size: int) -> int:
    with transaction.atomic():
        account = Account.objects.select_for_update(no_key=True).get(pk=account_id)
        rows = list(
            _pending(up_to=up_to, account_ids=[account_id])
            .order_by("accounting_date", "serial_no")
            .values_list("serial_no", "direction", "amount")[:batch_size]
        )
        if not rows:
            return 0
        balance, seq = account.balance, account.entry_seq
        serials, seqs, befores, afters = [], [], [], []
        for serial_no, direction, amount in rows:
            seq += 1
            serials.append(serial_no)
            seqs.append(seq)
            befores.append(balance)
            balance += amount if direction == account.normal_side else -amount
            afters.append(balance)
        updated = _apply(serials, seqs, befores, afters, frozen=account.frozen)
        if updated != len(rows):
            raise FlushRaced(f"Account {account.account_no}: {len(rows) - updated} entries were applied meanwhile.")
        account.balance, account.entry_seq = balance, seq
        balances_write([account])
        return len(rows)


def _apply(serials, seqs, befores, afters, *, frozen: Decimal) -> int:
    # In the database (postings/sql/entry_hash.sql): the batch's hashes are
    # chained there in sequence order, then written with the rest in one UPDATE.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ledger_entries_apply(%s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[], %s)",
            [serials, seqs, befores, afters, frozen],
        )
        return cursor.fetchone()[0]


def posting_mode_set(
    *, mode: str, actor: str, account: Account | None = None, account_type: AccountType | None = None
) -> int:
    """Make an account, or an account type and every account of it, buffered
    or real-time. Returns the number of accounts changed.

    Buffered is refused for an account with money frozen on it: settling the
    hold would be a debit that needs a balance check. Going back to real-time
    flushes the account, so real-time postings continue its chain."""
    if mode not in PostingMode.values:
        raise LedgerValidationError(f"Unknown posting mode {mode!r}.", mode=mode)
    if (account is None) == (account_type is None):
        raise LedgerValidationError("Give an account or an account type.")
    with transaction.atomic():
        if account_type is not None:
            AccountType.objects.filter(pk=account_type.pk).update(posting_mode=mode)
            account_type.posting_mode = mode
            accounts = Account.objects.filter(account_type=account_type)
        else:
            accounts = Account.objects.filter(pk=account.pk)
        locked = list(accounts.select_for_update(no_key=True).order_by("id"))
        if mode == PostingMode.BUFFERED:
            frozen = [a.account_no for a in locked if a.frozen]
            if frozen:
                raise LedgerValidationError(
                    f"Money is frozen on {', '.join(frozen[:5])}: settle or release the holds before buffering.",
                    account_no=",".join(frozen[:5]),
                )
        switching = [a for a in locked if a.posting_mode != mode]
        changed = [a.pk for a in switching]
        Account.objects.filter(pk__in=changed).update(posting_mode=mode, updated_at=timezone.now())
        AccountPostingModeChange.objects.bulk_create(
            AccountPostingModeChange(
                account=a,
                from_mode=a.posting_mode,
                to_mode=mode,
                changed_by=actor,
                via_type=account_type.code if account_type is not None else "",
            )
            for a in switching
        )
        if account is not None:
            account.posting_mode = mode
        logger.info(
            "posting mode %s set by %s on %s (%d accounts changed)",
            mode,
            actor,
            account_type or account,
            len(changed),
        )
    if mode == PostingMode.REALTIME and changed:
        buffers_flush(account_ids=changed)
    return len(changed)
