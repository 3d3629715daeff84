"""Forgeries the database refuses at COMMIT (issue 18, section 1), as the
runtime role would try them with raw SQL (a compromised web process, an
operator with the application's credentials): each runs in a transaction of
its own and is committed, or refused.

* An account's balance is the balance after of its latest applied entry
  (entry_seq numbers it; 0 and no entry before the first).
* Its frozen amount is the sum of what its active holds have remaining.
* A hold changes only with its events: remaining = amount - settled -
  released/expired, and its status agrees with its last event; its amount
  and account never change.

The legitimate paths commit with every guard on (the last tests here; the
rest of the suite checks the deferred guards at the end of every test, see
tests/conftest.py).
"""

from decimal import Decimal

import psycopg
import pytest

from postings.models import Hold, HoldStatus
from postings.services import Leg, PostingRequest, hold_place, hold_release, hold_settle, posting_create_batch
from postings.services.buffers import buffers_flush, posting_mode_set

pytestmark = pytest.mark.django_db(transaction=True)

BALANCE = "account_balance_is_last_entry"
FROZEN = "account_frozen_is_active_holds"
HOLD = "hold_follows_its_events"


@pytest.fixture
def wallet(ledger):
    account = ledger.cash()
    ledger.recharge(account, "1000")
    return account


def place(account, amount, request_no):
    return hold_place(
        account_no=account.account_no, amount=amount, reason="escrow", request_no=request_no, actor="trade"
    )


def committed(runtime_sql, *statements, params=()):
    """Statements run as the runtime role in one transaction, committed."""
    conn = runtime_sql.connection
    with conn.transaction(), conn.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, params if "%" in sql else None)


def refused(runtime_sql, *statements, params=(), rule):
    with pytest.raises(psycopg.errors.CheckViolation, match=rule):
        committed(runtime_sql, *statements, params=params)


# ------------------------------------------------------------- balance ----


def test_a_balance_raised_without_an_entry_is_refused(runtime_sql, ledger, wallet):
    refused(
        runtime_sql,
        "UPDATE accounts_account SET balance = balance + 1000 WHERE id = %s",
        params=[wallet.pk],
        rule=BALANCE,
    )
    assert ledger.balance(wallet) == Decimal("1000")


def test_a_balance_forged_on_an_account_without_entries_is_refused(runtime_sql, ledger):
    empty = ledger.cash()
    refused(runtime_sql, "UPDATE accounts_account SET balance = 5 WHERE id = %s", params=[empty.pk], rule=BALANCE)


@pytest.mark.parametrize("step", [1, -1])
def test_an_entry_seq_moved_off_the_latest_entry_is_refused(runtime_sql, ledger, wallet, step):
    ledger.recharge(wallet, "1")  # two entries: seq 1 (1000) and seq 2 (1001)
    refused(
        runtime_sql,
        "UPDATE accounts_account SET entry_seq = entry_seq + %s WHERE id = %s",
        params=[step, wallet.pk],
        rule=BALANCE,
    )
    assert ledger.fresh(wallet).entry_seq == 2


def test_an_entry_seq_and_balance_rolled_back_to_an_older_entry_is_refused(runtime_sql, ledger, wallet):
    """Consistent with entry 1, but entry 2 is the latest applied entry."""
    ledger.recharge(wallet, "1")
    refused(
        runtime_sql,
        "UPDATE accounts_account SET entry_seq = 1, balance = 1000 WHERE id = %s",
        params=[wallet.pk],
        rule=BALANCE,
    )


def test_an_account_opened_with_a_balance_is_refused(runtime_sql, ledger, wallet):
    refused(
        runtime_sql,
        """INSERT INTO accounts_account (account_no, name, member_id, entity_id, account_type_id, category,
                  allow_negative, currency, balance, frozen, credit_limit, entry_seq, posting_mode, status,
                  opened_on, created_at, updated_at)
           SELECT 'FORGED1', '', member_id, entity_id, account_type_id, category, allow_negative, currency,
                  1000, 0, 0, 0, posting_mode, status, opened_on, now(), now()
             FROM accounts_account WHERE id = %s""",
        params=[wallet.pk],
        rule=BALANCE,
    )


def test_a_balance_changed_and_changed_back_in_one_transaction_commits(runtime_sql, ledger, wallet):
    """The check reads the row at COMMIT, not each UPDATE's version."""
    committed(
        runtime_sql,
        "UPDATE accounts_account SET balance = balance + 1000 WHERE id = %s",
        "UPDATE accounts_account SET balance = balance - 1000 WHERE id = %s",
        params=[wallet.pk],
    )
    assert ledger.balance(wallet) == Decimal("1000")


# -------------------------------------------------------------- frozen ----


def test_frozen_set_to_zero_under_an_active_hold_is_refused(runtime_sql, ledger, wallet):
    place(wallet, "200", "h1")
    refused(runtime_sql, "UPDATE accounts_account SET frozen = 0 WHERE id = %s", params=[wallet.pk], rule=FROZEN)
    assert ledger.fresh(wallet).frozen == Decimal("200")


def test_frozen_raised_without_a_hold_is_refused(runtime_sql, ledger, wallet):
    refused(runtime_sql, "UPDATE accounts_account SET frozen = 50 WHERE id = %s", params=[wallet.pk], rule=FROZEN)


# --------------------------------------------------------------- holds ----


@pytest.mark.parametrize(
    "change",
    [
        "remaining = 0",  # and frozen untouched
        "remaining = remaining - 50",
        "status = 'partially_settled'",
        "status = 'partially_settled', remaining = 100",
        "status = 'released', remaining = 0",
    ],
)
def test_a_hold_edited_without_an_event_is_refused(runtime_sql, ledger, wallet, change):
    hold = place(wallet, "200", "h1")
    with pytest.raises(psycopg.errors.CheckViolation, match=f"{HOLD}|{FROZEN}"):
        runtime_sql(f"UPDATE postings_hold SET {change} WHERE id = %s", [hold.pk])
    assert Hold.objects.get(pk=hold.pk).remaining == Decimal("200")


def test_a_hold_released_with_frozen_lowered_but_no_event_is_refused(runtime_sql, ledger, wallet):
    """Hold and account agree with each other; the hold's events do not."""
    hold = place(wallet, "200", "h1")
    refused(
        runtime_sql,
        "UPDATE postings_hold SET remaining = 0, status = 'released' WHERE id = %(hold)s",
        "UPDATE accounts_account SET frozen = 0 WHERE id = %(account)s",
        params={"hold": hold.pk, "account": wallet.pk},
        rule=HOLD,
    )
    assert ledger.fresh(wallet).frozen == Decimal("200")


@pytest.mark.parametrize("change", ["amount = 300", "amount = 300, remaining = 300"])
def test_a_hold_amount_never_changes(runtime_sql, ledger, wallet, change):
    hold = place(wallet, "200", "h1")
    with pytest.raises(psycopg.errors.CheckViolation, match="hold_amount_and_account_fixed"):
        runtime_sql(f"UPDATE postings_hold SET {change} WHERE id = %s", [hold.pk])


def test_a_hold_never_moves_to_another_account(runtime_sql, ledger, wallet):
    other = ledger.cash()
    ledger.recharge(other, "1000")
    hold = place(wallet, "200", "h1")
    with pytest.raises(psycopg.errors.CheckViolation, match="hold_amount_and_account_fixed"):
        committed(
            runtime_sql,
            "UPDATE postings_hold SET account_id = %(other)s WHERE id = %(hold)s",
            "UPDATE accounts_account SET frozen = frozen - 200 WHERE id = %(wallet)s",
            "UPDATE accounts_account SET frozen = frozen + 200 WHERE id = %(other)s",
            params={"hold": hold.pk, "wallet": wallet.pk, "other": other.pk},
        )


_INSERT_HOLD = """
    INSERT INTO postings_hold (account_id, amount, remaining, status, reason, source_system, request_no, fingerprint,
                               created_by, created_at, updated_at)
    VALUES (%(account)s, 100, 100, 'held', 'forged', 'ledger', 'forged-1', '', 'intruder', now(), now())"""
_INSERT_FREEZE = """
    INSERT INTO postings_holdevent (hold_id, kind, amount, frozen_before, frozen_after, source_system, fingerprint,
                                    actor, created_at)
    SELECT id, 'freeze', 100, 0, 100, 'ledger', '', 'intruder', now() FROM postings_hold WHERE request_no = 'forged-1'
"""


def test_a_hold_inserted_without_its_freeze_event_is_refused(runtime_sql, ledger, wallet):
    refused(
        runtime_sql,
        _INSERT_HOLD,
        "UPDATE accounts_account SET frozen = frozen + 100 WHERE id = %(account)s",
        params={"account": wallet.pk},
        rule=HOLD,
    )
    assert not Hold.objects.filter(request_no="forged-1").exists()


def test_a_hold_inserted_without_raising_frozen_is_refused(runtime_sql, ledger, wallet):
    refused(runtime_sql, _INSERT_HOLD, _INSERT_FREEZE, params={"account": wallet.pk}, rule=FROZEN)


def test_a_release_event_added_to_a_hold_alone_is_refused(runtime_sql, ledger, wallet):
    hold = place(wallet, "200", "h1")
    refused(
        runtime_sql,
        """INSERT INTO postings_holdevent (hold_id, kind, amount, frozen_before, frozen_after, source_system,
                                          fingerprint, actor, created_at)
           VALUES (%s, 'release', 50, 200, 150, 'ledger', '', 'intruder', now())""",
        params=[hold.pk],
        rule=HOLD,
    )


# ------------------------------------------------ the legitimate paths ----


def test_the_services_commit_with_every_guard_on(ledger, wallet):
    """Each call below is its own committed transaction (a transactional
    test): placing, settling in part, releasing, expiring the rest."""
    channel = ledger.channel()
    first = place(wallet, "300", "h1")
    hold_settle(
        hold_id=first.pk,
        request_no="s1",
        amount="100",
        business_type="guarantee_settlement",
        actor="trade",
        counter_account_no=channel.account_no,
    )
    hold_release(hold_id=first.pk, request_no="r1", actor="trade", amount="50")
    second = place(wallet, "100", "h2")
    hold_release(hold_id=second.pk, request_no="r2", actor="trade")
    hold_settle(
        hold_id=first.pk,
        request_no="s2",
        amount="150",
        business_type="guarantee_settlement",
        actor="trade",
        counter_account_no=channel.account_no,
    )
    account = ledger.fresh(wallet)
    assert (account.balance, account.frozen) == (Decimal("750"), Decimal("0"))
    assert Hold.objects.get(pk=first.pk).status == HoldStatus.SETTLED


def test_a_buffered_account_commits_its_pending_entries_and_its_flush(ledger, wallet):
    channel = ledger.channel()
    posting_mode_set(mode="buffered", account=channel, actor="ops")
    for _ in range(3):
        ledger.recharge(ledger.cash(), "10")
    assert buffers_flush(account_ids=[channel.pk], batch_size=2) == 3
    assert ledger.balance(channel) == Decimal("-1030")


def test_a_batch_commits_with_every_guard_on(ledger, wallet):
    """One call writes each account once at its last leg; a refused item
    goes by the full path and the rest in a new call, in one transaction."""
    payee = ledger.cash()
    items = [
        PostingRequest(f"t{i}", "transfer", [Leg.debit(wallet.account_no, a), Leg.credit(payee.account_no, a)])
        for i, a in enumerate(["100", "2000", "50", "25"])
    ]
    results = posting_create_batch(items, posted_by="trade")
    assert [r.ok for r in results] == [True, False, True, True]
    assert (ledger.balance(wallet), ledger.balance(payee)) == (Decimal("825"), Decimal("175"))
