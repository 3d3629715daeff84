"""The posting service: the only code that changes a balance or writes an entry.

Design overview
---------------
Sign convention (借/贷). Every account has a normal side: asset accounts
(credit lines, what customers owe us) are debit-normal; liability accounts
(customer cash, what we owe) and internal accounts (内部户: channel clearing,
fee income, escrow, coupons) are credit-normal. A leg on the normal side
raises the balance, a leg on the other side lowers it. Balances are stored
on the normal side, so a wallet holding 100 has balance +100 and a credit line
with 30 used has balance +30. Every posting has equal debits and credits, so
per entity and currency, at every commit::

    sum(asset balances) = sum(liability balances) + sum(internal balances)

One posting, one transaction. ``posting_create`` validates, inserts the
posting row (the unique ``(source_system, request_no)`` key makes a concurrent
duplicate wait and then fail, so it is answered with the original), locks
every touched account ``FOR NO KEY UPDATE`` in id order (so two postings that
touch the same accounts can never deadlock), computes each entry's balance
before and after from the locked rows, refuses anything that would take an
account below what it may use, and writes entries and balances. PostgreSQL
re-checks at COMMIT that the entries balance and that no account breaks its
sign rule (see ``postings.models`` and ``accounts.models``). A posting its
accounts plainly allow is written by one call of the database function
``ledger_post`` instead, which does the same writes under the same locks and
constraints; anything else takes the path above ("One call" in one_call.py).

Holds (冻结). A hold reserves an amount for a later debit: ``frozen`` rises,
``balance`` does not, available (balance - frozen; for credit lines
limit - used - frozen) drops. Settling turns (part of) the hold into a posting
whose debit on the held account lowers balance and frozen together, so
available does not move. Releasing lowers frozen. A hold that is settled,
released or expired cannot be settled again.

Corrections are reversals (冲正): a new posting with every leg's direction
swapped, linked to the original; or red-ink corrections (红冲 + 蓝字,
``corrections``): a red posting in the original's business type mirroring it
and the corrected blue posting, booked together. Nothing is ever updated or
deleted.

Idempotency. Every write that moves money carries a request number unique per
source system. The same request again returns the original result and writes
nothing; the same number with different content raises IdempotencyConflict.

The package, by concern:

- ``drafts``: typed values (Leg, the leg rules' _Draft, PostingDraft).
- ``one_call``: ledger_post / ledger_post_batch calls, FULL_PATH_FALLBACKS.
- ``locking``: _LOCK_SQL and _lock_accounts.
- ``full_path``: legs validated by the database's refusals, the one-statement write.
- ``refusals``: _refusal, the one place a refusal code becomes an error.
- ``idempotency``: a posting request runs once (over accounts.kernel.idempotency).
- ``postings``: posting_create, posting_reverse.
- ``batch``: posting_create_batch (a BatchRun per batch).
- ``rules``: posting_create_by_rule.
- ``corrections``: red-ink corrections (红冲 + 蓝字) under maker-checker.
- ``orders``: guarantee orders (担保交易) and their escrow balances.
- ``holds``: hold_place, hold_settle, hold_release, holds_expire_due.
- ``buffers``: hot accounts' buffered legs and their flush.
- ``calendar``: the accounting day and the day cut.
"""

from .batch import BatchResult, PostingRequest, posting_create_batch
from .corrections import correction_approve, correction_propose, correction_reject
from .drafts import DEFAULT_SOURCE, Leg, PostingDraft
from .holds import hold_place, hold_release, hold_settle, holds_expire_due
from .one_call import FULL_PATH_FALLBACKS
from .orders import order_confirm, order_dispute, order_open, order_refund, order_resolve, orders_confirm_due
from .postings import posting_create, posting_reverse
from .refunds import refund_approve, refund_create, refund_reject
from .rules import posting_create_by_rule

__all__ = [
    "DEFAULT_SOURCE",
    "FULL_PATH_FALLBACKS",
    "BatchResult",
    "Leg",
    "PostingDraft",
    "PostingRequest",
    "correction_approve",
    "correction_propose",
    "correction_reject",
    "hold_place",
    "hold_release",
    "hold_settle",
    "holds_expire_due",
    "order_confirm",
    "order_dispute",
    "order_open",
    "order_refund",
    "order_resolve",
    "orders_confirm_due",
    "posting_create",
    "posting_create_batch",
    "posting_create_by_rule",
    "posting_reverse",
    "refund_approve",
    "refund_create",
    "refund_reject",
]
