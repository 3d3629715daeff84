"""A posting request runs its write once (the posting service's variant of
accounts.kernel.idempotency.run_once, with the one call and the replay
lookup skipped for postings)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, connection
from django.db.models import Model

from accounts.kernel.errors import LedgerError
from accounts.kernel.idempotency import check_request_no, replay

from ..exceptions import PostingModeChanged
from .db import _violated_constraint
from .one_call import _one_call_or_full_path

T = TypeVar("T", bound=Model)
logger = logging.getLogger(__name__)

# The entries' guard (postings/sql/guards.sql) refusing a leg written in a
# posting mode the account no longer has: the posting read the account just
# before a switch between buffered and real-time committed. Nothing of the
# posting was written, and a second attempt reads the account as it is now.
# Tried again only when the posting is its own transaction: inside a
# caller's, what the caller read before may be as stale, so the caller gets
# a coded refusal (posting_mode_changed) and sends the request again.
MODE_RACE = "entry_follows_posting_mode"


def _idempotent(
    model: type[T],
    *,
    source_system: str,
    request_no: str,
    fingerprint: str,
    what: str,
    write: Callable[[], T],
    extra_conflicts: Callable[[str], None] | None = None,
    look_first: bool = True,
    one_call: Callable[[], T] | None = None,
) -> T:
    """Run ``write`` once per (source_system, request_no).

    The fast path finds an earlier result. ``look_first=False`` skips that
    lookup for a caller whose ``write`` always ends by inserting the
    request's unique row (a posting): a replay then fails on the key, or
    earlier on what the first attempt changed, and is answered below, so a
    new request saves a round trip and a replay costs one more. Two concurrent first attempts are
    settled by the unique key: the second waits for the first, then fails,
    either on the key (IntegrityError) or on what the first one changed (a
    LedgerError: the balance it left is short, the hold it settled is no
    longer active, the posting it reversed is reversed). Either way the
    request was done, and the answer is the first one's result.
    ``extra_conflicts`` turns another violated key into a domain error when
    the request itself was not done. ``one_call`` writes the same result in
    one statement when it can, and raises _FullPath when it cannot (see "One
    call" below); ``write`` then does it. A write that met a switch of an
    account's posting mode is tried once more, or refused (``MODE_RACE``).
    """
    check_request_no(request_no)

    def earlier() -> T | None:
        return model.objects.filter(source_system=source_system, request_no=request_no).first()

    existing = earlier() if look_first else None
    if existing is not None:
        return replay(existing, fingerprint, what)

    # Whether the write is this call's own transaction (else a savepoint in the caller's).
    own_transaction = not connection.in_atomic_block
    for attempt in (1, 2):
        try:
            result = _one_call_or_full_path(one_call, write)
        except LedgerError:
            existing = earlier()
            if existing is None:
                raise
        except IntegrityError as exc:
            existing = earlier()
            if existing is None:
                violated = _violated_constraint(exc)
                if violated == MODE_RACE:
                    account_no = getattr(getattr(exc.__cause__, "diag", None), "message_detail", None) or "?"
                    if own_transaction and attempt == 1:
                        logger.info(
                            "posting %s: account %s changed posting mode meanwhile, tried again", request_no, account_no
                        )
                        continue
                    raise PostingModeChanged(
                        f"Account {account_no} was switched between buffered and real-time while the posting was "
                        "being written; nothing was posted. Send it again with the same request number.",
                        account_no=account_no,
                    ) from None
                if extra_conflicts:
                    extra_conflicts(violated)
                raise
        else:
            result.replayed = False
            return result
        return replay(existing, fingerprint, what)
    raise AssertionError("unreachable")  # the second attempt returns or raises
