"""What PostgreSQL enforces even for writes that bypass the ORM.

The balance check runs when an INSERT of entries ends; the check that a
posting has entries is deferred to COMMIT. So these run in real transactions
(transactional tests), exactly as a rogue script would commit.
"""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from postings.models import Entry, Posting

BALANCE_CHECK = "unbalanced posting"


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def committed(sql, params=()):
    """Run raw SQL in its own transaction and commit it."""
    with transaction.atomic():
        raw(sql, params)


@pytest.fixture
def posted(ledger):
    a = ledger.cash()
    return a, ledger.recharge(a, "100")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE postings_entry SET amount = 1 WHERE serial_no = %s",
        "UPDATE postings_entry SET balance_after = 0 WHERE serial_no = %s",
        "DELETE FROM postings_entry WHERE serial_no = %s",
    ],
)
def test_entries_are_append_only(posted, sql):
    _, posting = posted
    entry = posting.entries.first()
    with pytest.raises(DatabaseError, match="Cannot (update or )?delete rows from postings_entry|is append-only"):
        with transaction.atomic():
            raw(sql, [entry.serial_no])
    assert Entry.objects.get(pk=entry.pk).amount == entry.amount


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE postings_posting SET memo = 'edited' WHERE serial_no = %s",
        "DELETE FROM postings_posting WHERE serial_no = %s",
    ],
)
def test_postings_are_append_only(posted, sql):
    _, posting = posted
    with pytest.raises(DatabaseError, match="Cannot update or delete rows from postings_posting"):
        with transaction.atomic():
            raw(sql, [posting.serial_no])
    assert Posting.objects.get(pk=posting.pk).memo == posting.memo


@pytest.mark.django_db
def test_the_triggers_ignore_nothing_by_default_and_pgtrigger_ignore_still_works(posted):
    """config.settings starts every connection with pgtrigger.ignore = '{}'
    (ignore nothing, without the error an unset setting raises in every
    trigger call); pgtrigger.ignore() still switches a trigger off for its
    block only."""
    import pgtrigger

    _, posting = posted
    with connection.cursor() as cursor:
        cursor.execute("SHOW pgtrigger.ignore")
        assert cursor.fetchone() == ("{}",)
    update = "UPDATE postings_posting SET memo = 'mended' WHERE serial_no = %s"
    with pgtrigger.ignore("postings.Posting:posting_append_only"), transaction.atomic():
        raw(update, [posting.serial_no])
    assert Posting.objects.get(pk=posting.pk).memo == "mended"
    with pytest.raises(DatabaseError, match="Cannot update or delete rows from postings_posting"):
        with transaction.atomic():
            raw(update, [posting.serial_no])


@pytest.mark.django_db
def test_accounts_are_never_deleted(posted):
    account, _ = posted
    with pytest.raises(DatabaseError, match="Cannot delete rows from accounts_account"):
        with transaction.atomic():
            raw("DELETE FROM accounts_account WHERE id = %s", [account.id])


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_entry_is_rejected_at_commit(posted):
    account, posting = posted
    entry = posting.entries.get(account=account)
    with pytest.raises(IntegrityError, match=BALANCE_CHECK):
        committed(
            """INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency,
                   balance_before, balance_after, frozen_before, frozen_after, business_type, accounting_date,
                   created_at)
               VALUES (%s, %s, 99, 'C', 5, 'CNY', 100, 105, 0, 0, 'recharge', CURRENT_DATE, now())""",
            [posting.serial_no, account.id],
        )
    assert posting.entries.count() == 2 and entry.balance_after == account.__class__.objects.get(pk=account.pk).balance


@pytest.mark.django_db(transaction=True)
def test_a_posting_without_entries_is_rejected_at_commit(ledger):
    with pytest.raises(IntegrityError, match="fewer than two entries"):
        committed(
            """INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id,
                   currency, accounting_date, memo, external_ref, posted_by, created_at)
               VALUES ('rogue', 'r1', '', 'adjustment', %s, 'CNY', CURRENT_DATE, '', '', 'script', now())""",
            [ledger.entity.id],
        )
    assert not Posting.objects.filter(source_system="rogue").exists()


RAW_POSTING = """INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id,
                      currency, accounting_date, memo, external_ref, posted_by, created_at)
                  VALUES ('rogue', %s, '', 'adjustment', %s, 'CNY', CURRENT_DATE, '', '', 'script', now())
                  RETURNING serial_no"""
RAW_ENTRIES = """INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency,
                      balance_before, balance_after, frozen_before, frozen_after, business_type, accounting_date,
                      created_at)
                  SELECT v.*, 'CNY', 0, 0, 0, 0, 'adjustment', CURRENT_DATE, now()
                    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::numeric[])
                         AS v(posting_id, account_id, seq, direction, amount)"""


def raw_posting(ledger, request_no):
    with connection.cursor() as cursor:
        cursor.execute(RAW_POSTING, [request_no, ledger.entity.id])
        return cursor.fetchone()[0]


def raw_entries(*legs):
    """Entries (posting, account, seq, direction, amount), inserted by one statement."""
    raw(
        RAW_ENTRIES,
        [[serial for serial, *_ in legs], [account.id for _, account, *_ in legs]]
        + [list(column) for column in zip(*[rest for _, _, *rest in legs])],
    )


@pytest.mark.django_db(transaction=True)
def test_balanced_raw_posting_with_entries_commits(ledger):
    """The triggers check the rule, not the route: a balanced posting commits."""
    a, b = ledger.cash(), ledger.cash()
    with transaction.atomic():
        serial = raw_posting(ledger, "ok")
        raw_entries((serial, a, 1, "D", 1), (serial, b, 1, "C", 1))
    assert Entry.objects.filter(posting_id=serial).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_postings_entries_balance_at_the_end_of_each_insert(ledger):
    """Entries are checked when the statement that inserts them ends: a
    posting's legs go in together, and a later leg is checked with them."""
    a, b = ledger.cash(), ledger.cash()
    with pytest.raises(IntegrityError, match=BALANCE_CHECK):
        with transaction.atomic():
            serial = raw_posting(ledger, "one-by-one")
            raw_entries((serial, a, 1, "D", 1))
    with transaction.atomic():
        serial = raw_posting(ledger, "together")
        raw_entries((serial, a, 1, "D", 1), (serial, b, 1, "C", 1))
    with pytest.raises(IntegrityError, match=f"{BALANCE_CHECK} {serial}: CNY debits 2.0000 <> credits 1.0000"):
        with transaction.atomic():
            raw_entries((serial, a, 2, "D", 1))
    assert not Posting.objects.filter(request_no="one-by-one").exists()
    assert Entry.objects.filter(posting_id=serial).count() == 2


@pytest.mark.django_db(transaction=True)
def test_one_unbalanced_posting_among_many_fails_the_whole_insert(ledger):
    a, b = ledger.cash(), ledger.cash()
    with pytest.raises(IntegrityError, match=BALANCE_CHECK) as caught:
        with transaction.atomic():
            serials = [raw_posting(ledger, f"many-{i}") for i in range(3)]
            raw_entries(
                (serials[0], a, 1, "D", 1),
                (serials[0], b, 1, "C", 1),
                (serials[1], a, 2, "D", 1),
                (serials[1], b, 2, "C", 2),
                (serials[2], a, 3, "D", 1),
                (serials[2], b, 3, "C", 1),
            )
    assert f"posting {serials[1]}:" in str(caught.value)
    assert not Posting.objects.filter(source_system="rogue").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql,constraint",
    [
        ("UPDATE accounts_account SET balance = -0.01 WHERE id = %s", "account_available_not_negative"),
        ("UPDATE accounts_account SET frozen = 100.01 WHERE id = %s", "account_available_not_negative"),
        ("UPDATE accounts_account SET frozen = -1 WHERE id = %s", "account_frozen_not_negative"),
        ("UPDATE accounts_account SET credit_limit = 5 WHERE id = %s", "account_credit_limit_only_on_assets"),
    ],
)
def test_customer_accounts_stay_within_their_sign_rule(posted, sql, constraint):
    account, _ = posted
    with pytest.raises(IntegrityError, match=constraint):
        with transaction.atomic():
            raw(sql, [account.id])


@pytest.mark.django_db
def test_credit_lines_cannot_be_overdrawn_in_sql(ledger):
    credit = ledger.credit(limit="100")
    with pytest.raises(IntegrityError, match="account_available_not_negative"):
        with transaction.atomic():
            raw("UPDATE accounts_account SET balance = 100.01 WHERE id = %s", [credit.id])


@pytest.mark.django_db
def test_internal_accounts_may_go_negative(ledger):
    channel = ledger.channel()
    ledger.recharge(ledger.cash(), "100")
    assert ledger.balance(channel) < 0


@pytest.mark.django_db
def test_hold_remaining_stays_within_the_hold(ledger):
    from postings.services import hold_place

    a = ledger.cash()
    ledger.recharge(a, "100")
    hold = hold_place(account_no=a.account_no, amount="10", reason="x", request_no="h", actor="t")
    with pytest.raises(IntegrityError, match="hold_remaining_within_amount"):
        with transaction.atomic():
            raw("UPDATE postings_hold SET remaining = 11 WHERE id = %s", [hold.id])
    with pytest.raises(IntegrityError, match="hold_closed_means_nothing_remaining"):
        with transaction.atomic():
            raw("UPDATE postings_hold SET status = 'released' WHERE id = %s", [hold.id])
