"""What PostgreSQL enforces even for writes that bypass the ORM.

The balance check runs when an INSERT of entries ends; the check that a
posting has entries is deferred to COMMIT. So these run in real transactions
(transactional tests), exactly as a rogue script would commit.
"""

from decimal import Decimal

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from postings.hashchain import CONTENT_FIELDS, GENESIS, entry_digest
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


# Every trigger's name, the list pgtrigger's _pgtrigger_should_ignore(TG_NAME)
# read: what a connection set to switch them off.
IGNORE_EVERY_TRIGGER = """
    SELECT set_config('pgtrigger.ignore', '{' || string_agg(tgname, ',') || '}', true)
      FROM pg_trigger WHERE NOT tgisinternal"""


def test_no_trigger_asks_a_setting_whether_to_run(runtime_sql):
    """django-pgtrigger's triggers first asked _pgtrigger_should_ignore, which
    any role satisfies by setting pgtrigger.ignore: no trigger may."""
    rows = runtime_sql(
        """SELECT t.tgrelid::regclass::text, t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
            WHERE NOT t.tgisinternal AND p.prosrc ILIKE '%%pgtrigger%%'"""
    )
    assert rows == []


@pytest.mark.parametrize(
    "forgery",
    ["UPDATE postings_entry SET amount = amount + 1 WHERE posting_id = {posting}", "delete", "unbalanced"],
)
def test_pgtrigger_ignore_switches_nothing_off_for_the_runtime_role(runtime_sql, ledger, forgery):
    """Issue 18, section 1: the runtime role sets pgtrigger.ignore to every
    trigger's name and tries the forgeries it switched the guards off for."""
    a, b = ledger.cash(), ledger.cash()
    posting = ledger.recharge(a, "100")
    statements = {
        "delete": "DELETE FROM postings_entry WHERE posting_id = {posting};"
        " DELETE FROM postings_posting WHERE serial_no = {posting}",
        "unbalanced": f"""WITH p AS ({RAW_POSTING.replace("%s", "'forged'", 1).replace("%s", str(ledger.entity.id))})
            INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency,
                   balance_before, balance_after, frozen_before, frozen_after, business_type, accounting_date,
                   created_at)
            SELECT p.serial_no, {b.id}, 1, 'C', 5, 'CNY', 0, 5, 0, 0, 'adjustment', CURRENT_DATE, now() FROM p""",
    }
    sql = statements.get(forgery, forgery).format(posting=posting.serial_no)
    with pytest.raises(psycopg.Error, match="Cannot (update or )?delete rows from|is append-only|unbalanced posting"):
        runtime_sql(f"{IGNORE_EVERY_TRIGGER}; {sql}")
    entries = Entry.objects.filter(posting=posting)
    assert sorted(e.amount for e in entries) == [Decimal("100"), Decimal("100")]
    assert not Posting.objects.filter(request_no="forged").exists()
    assert ledger.balance(b) == 0


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
                  SELECT v.*, 0, 0, 'adjustment', CURRENT_DATE, now()
                    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::numeric[], %s::text[],
                                %s::numeric[], %s::numeric[])
                         AS v(posting_id, account_id, seq, direction, amount, currency, before, after)"""


def raw_posting(ledger, request_no):
    with connection.cursor() as cursor:
        cursor.execute(RAW_POSTING, [request_no, ledger.entity.id])
        return cursor.fetchone()[0]


def chained(*legs):
    """Entries (posting, account, seq, direction, amount) as rows of
    RAW_ENTRIES, each continuing its account's chain: balance before = the
    previous entry's (seq - 1) balance after, moved by the amount on the
    account's normal side."""
    after: dict[tuple[int, int], Decimal] = {}
    rows = []
    for posting, account, seq, direction, amount in legs:
        amount = Decimal(amount)
        before = after.get((account.id, seq - 1))
        if before is None:
            previous = Entry.objects.filter(account=account, account_seq=seq - 1).first()
            before = previous.balance_after if previous else Decimal(0)
        after[account.id, seq] = before + (amount if direction == account.normal_side else -amount)
        rows.append((posting, account.id, seq, direction, amount, account.currency, before, after[account.id, seq]))
    return [list(column) for column in zip(*rows)]


def raw_entries(*legs):
    """Entries (posting, account, seq, direction, amount), inserted by one statement."""
    raw(RAW_ENTRIES, chained(*legs))


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


# A credit line beyond its limit: tests/credit/test_database_guards.py (the
# limit is a rule of what raises the use, no longer a CHECK of the row).


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


# -- Issue 18, section 1: entries that do not continue their account's chain --

CHAIN = "does not continue"


def forged_posting(runtime_sql, ledger, *legs, pending=False):
    """A balanced posting with the given legs (account, seq, direction,
    amount, before, after), or pending legs (account, direction, amount),
    inserted as the runtime role: the posting and its entries in one
    transaction, the entries by one statement."""
    if pending:
        legs = [(account, None, direction, amount, None, None) for account, direction, amount in legs]

    def money(value):
        return None if value is None else Decimal(value)

    columns = [list(c) for c in zip(*[(a.id, seq, d, money(m), money(b), money(f)) for a, seq, d, m, b, f in legs])]
    frozen = "NULL" if pending else "0"
    return runtime_sql(
        f"""WITH p AS ({RAW_POSTING.replace("%s", "'forged'", 1)})
            INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency,
                   balance_before, balance_after, frozen_before, frozen_after, business_type, accounting_date,
                   created_at)
            SELECT p.serial_no, v.account_id, v.seq, v.direction, v.amount, 'CNY', v2.*, {frozen}, {frozen}, 'adjustment', CURRENT_DATE, now()
              FROM p, unnest(%s::bigint[], %s::bigint[], %s::text[], %s::numeric[]) WITH ORDINALITY
                      AS v(account_id, seq, direction, amount, n)
              JOIN LATERAL (SELECT (%s::numeric[])[v.n], (%s::numeric[])[v.n]) AS v2(before, after) ON true""",
        [ledger.entity.id, *columns],
    )


def test_pending_entries_only_on_buffered_accounts(runtime_sql, ledger):
    """A pending entry is left out of the account's balance until the flush:
    on an account that is not buffered no flush ever comes."""
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "100")
    with pytest.raises(
        psycopg.errors.CheckViolation,
        match=f"is pending on account ({a.account_no}|{b.account_no}), which is not buffered",
    ):
        forged_posting(runtime_sql, ledger, (a, "D", "60"), (b, "C", "60"), pending=True)
    assert not Posting.objects.filter(request_no="forged").exists()


@pytest.mark.parametrize(
    "leg, refused",
    [
        ((2, "D", "30", "100", "70"), None),  # continues the chain: accepted
        ((2, "D", "30", "0", "-30"), "balance before 0.0000 <> 100.0000"),  # made-up balance before
        ((2, "D", "30", "100", "130"), "balance after 130.0000 <> 70.0000"),  # moved the wrong way
        ((2, "D", "30", "100", "90"), "balance after 90.0000 <> 70.0000"),  # by another amount
        ((3, "D", "30", "70", "40"), "no entry 2 before it"),  # a gap in the sequence
        ((0, "D", "30", "100", "70"), "no entry -1 before it"),  # before the first
    ],
)
def test_an_applied_entry_continues_its_accounts_chain(runtime_sql, ledger, leg, refused):
    """a's one entry (seq 1) leaves it at 100: an applied entry on a must be
    its seq 2, from 100, moved by the amount on a's normal side (credit, a
    wallet): a debit of 30 leaves 70. b's leg (its first) is right each time."""
    a, b = ledger.cash(), ledger.internal("ESCROW")
    ledger.recharge(a, "100")
    seq, direction, amount, before, after = leg
    legs = [(a, seq, direction, amount, Decimal(before), Decimal(after)), (b, 1, "C", amount, 0, Decimal(amount))]
    if refused is None:
        forged_posting(runtime_sql, ledger, *legs)
        assert Entry.objects.filter(account=a).count() == 2
        return
    with pytest.raises(psycopg.errors.CheckViolation, match=CHAIN) as caught:
        forged_posting(runtime_sql, ledger, *legs)
    assert f"on account {a.account_no} (seq {seq})" in str(caught.value) and refused in str(caught.value)
    assert Entry.objects.filter(account=a).count() == 1


def test_the_first_entry_of_an_account_starts_from_zero(runtime_sql, ledger):
    a, b = ledger.cash(), ledger.internal("ESCROW")
    with pytest.raises(psycopg.errors.CheckViolation, match=f"on account {b.account_no} \\(seq 1\\) {CHAIN}"):
        forged_posting(runtime_sql, ledger, (a, 1, "D", "5", 0, -5), (b, 1, "C", "5", 10, 15))


def test_several_entries_of_one_account_in_one_statement_chain_on_each_other(runtime_sql, ledger):
    a, b = ledger.cash(), ledger.internal("ESCROW")
    ledger.recharge(a, "100")
    with pytest.raises(psycopg.errors.CheckViolation, match=CHAIN):  # both from 100
        forged_posting(
            runtime_sql, ledger, (a, 2, "C", "5", 100, 105), (a, 3, "C", "3", 100, 103), (b, 1, "D", "8", 0, -8)
        )
    forged_posting(runtime_sql, ledger, (a, 2, "C", "5", 100, 105), (a, 3, "C", "3", 105, 108), (b, 1, "D", "8", 0, -8))
    assert list(Entry.objects.filter(account=a).order_by("account_seq").values_list("balance_after", flat=True)) == [
        100,
        105,
        108,
    ]


def test_an_applied_entry_on_a_buffered_account_is_refused_at_insert(runtime_sql, ledger):
    """A buffered account's entries are written pending and numbered by the
    flush alone: an applied one written beside them would take the place the
    flush gives the next pending entry."""
    from accounts.models import PostingMode
    from postings.services.buffers import posting_mode_set

    a, fee = ledger.cash(), ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    with pytest.raises(psycopg.errors.CheckViolation, match=f"account {fee.account_no} is buffered"):
        forged_posting(runtime_sql, ledger, (a, 1, "D", "5", 0, -5), (fee, 1, "C", "5", 0, 5))


@pytest.mark.parametrize("before, after, refused", [(0, 7, True), (0, 5, False)])
def test_applying_a_pending_entry_continues_the_chain(runtime_sql, ledger, before, after, refused):
    """The flush's UPDATE, written by hand: the applied entry must continue
    the chain as an inserted one must."""
    from accounts.models import PostingMode
    from postings.services import Leg, posting_create
    from postings.services.buffers import posting_mode_set

    a, fee = ledger.cash(), ledger.internal("FEE_INCOME")
    ledger.recharge(a, "100")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    posting_create(
        request_no="fee-1",
        business_type="fee",
        posted_by="t",
        legs=[Leg.debit(a.account_no, "5"), Leg.credit(fee.account_no, "5")],
    )
    pending = Entry.objects.get(account=fee)
    applied = {
        **Entry.objects.values(*CONTENT_FIELDS).get(pk=pending.pk),
        "account_seq": 1,
        "balance_before": Decimal(before),
        "balance_after": Decimal(after),
        "frozen_before": Decimal(0),
        "frozen_after": Decimal(0),
    }
    apply = (
        "UPDATE postings_entry SET account_seq = 1, balance_before = %s, balance_after = %s, frozen_before = 0,"
        " frozen_after = 0, entry_hash = %s WHERE serial_no = %s"
    )
    params = [before, after, entry_digest(applied, GENESIS), pending.serial_no]  # the hash the flush would write
    if refused:
        with pytest.raises(psycopg.errors.CheckViolation, match=f"on account {fee.account_no} \\(seq 1\\) {CHAIN}"):
            runtime_sql(apply, params)
        assert Entry.objects.get(pk=pending.pk).account_seq is None
    else:
        runtime_sql(apply, params)
        assert Entry.objects.get(pk=pending.pk).balance_after == 5
