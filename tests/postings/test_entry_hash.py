"""The entries' hash chain (issue 22 section 5): every way an entry is
written leaves a hash that an outsider recomputes from the entry's columns
and the previous entry's hash (postings.hashchain, docs/hash_chain.md),
whatever the writer supplied; a buffered entry gets its hash when the flush
gives it its place; real threads posting on one account leave a chain that
verifies; existing entries are chained by the migration's backfill."""

from __future__ import annotations

import importlib
import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import DatabaseError, connection, connections, transaction

from accounts.models import PostingMode
from events.models import Event
from postings.hashchain import GENESIS, entry_content, entry_digest, plain
from postings.models import Entry
from postings.services import Leg, PostingRequest, posting_create, posting_create_batch
from postings.services.buffers import buffers_flush, posting_mode_set

from .test_database_guarantees import forged_posting

FIELDS = (
    "serial_no",
    "posting_id",
    "account_id",
    "account_seq",
    "direction",
    "amount",
    "currency",
    "balance_before",
    "balance_after",
    "frozen_before",
    "frozen_after",
    "business_type",
    "accounting_date",
    "created_at",
    "entry_hash",
)


def chain_breaks(account) -> list[tuple[int, str]]:
    """Recompute the account's chain from its first entry: (seq, why) of every entry that does not match."""
    previous, breaks = GENESIS, []
    rows = Entry.objects.filter(account=account, account_seq__isnull=False).order_by("account_seq").values(*FIELDS)
    for n, row in enumerate(rows, start=1):
        if row["account_seq"] != n:
            breaks.append((row["account_seq"], f"expected seq {n}"))
        stored = bytes(row["entry_hash"]) if row["entry_hash"] is not None else None
        if stored != entry_digest(row, previous):
            breaks.append((row["account_seq"], "hash"))
        previous = stored or GENESIS
    return breaks


def hashes(account) -> list[bytes]:
    return [
        bytes(h)
        for h in Entry.objects.filter(account=account).order_by("account_seq").values_list("entry_hash", flat=True)
    ]


def test_plain_amounts_are_written_as_postgresql_trim_scale_writes_them(db):
    values = ["100.0000", "12.5000", "-0.0100", "0.0000", "-0", "1E+2", "0.1234"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(trim_scale(v)::text ORDER BY n) FROM unnest(%s::numeric[]) WITH ORDINALITY AS t(v, n)",
            [values],
        )
        written = cursor.fetchone()[0]
    assert [plain(Decimal(v)) for v in values] == written == ["100", "12.5", "-0.01", "0", "0", "100", "0.1234"]


@pytest.mark.django_db
def test_the_database_and_an_outsider_write_the_same_content(ledger):
    """The SQL's canonical text and the documented one agree, field by field."""
    wallet = ledger.cash()
    ledger.recharge(wallet, "100.5")
    entry = Entry.objects.get(account=wallet)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TimeZone = 'America/New_York'; SET LOCAL DateStyle = 'SQL, DMY'")
        cursor.execute("SELECT ledger_entry_content(e) FROM postings_entry e WHERE serial_no = %s", [entry.serial_no])
        in_sql = cursor.fetchone()[0]
        # Back to what Django's connection reads.
        cursor.execute("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, MDY'")
    row = Entry.objects.filter(pk=entry.pk).values(*FIELDS).get()
    assert in_sql == entry_content(row)
    assert in_sql.startswith(
        f"ledger-entry-v1|{entry.serial_no}|{entry.posting_id}|{wallet.id}|1|C|100.5|CNY|0|100.5|0|0|recharge|"
    )
    assert in_sql.endswith("Z") and f"|{entry.accounting_date.isoformat()}|" in in_sql


@pytest.mark.django_db
def test_every_writer_leaves_a_chain_an_outsider_recomputes(ledger, settings):
    wallet, payee = ledger.cash(), ledger.cash()
    ledger.recharge(wallet, "500")  # the one call (ledger_post)
    posting_create(  # two legs on one account in one posting: they chain on each other within the statement
        request_no="two-legs",
        business_type="transfer",
        posted_by="t",
        legs=[
            Leg.debit(wallet.account_no, "10"),
            Leg.credit(payee.account_no, "10"),
            Leg.debit(wallet.account_no, "5"),
            Leg.credit(payee.account_no, "5"),
        ],
    )
    posting_create_batch(  # ledger_post_batch
        [
            PostingRequest(
                request_no=f"b-{n}",
                business_type="transfer",
                legs=[Leg.debit(wallet.account_no, "1"), Leg.credit(payee.account_no, "1")],
            )
            for n in range(3)
        ],
        posted_by="t",
    )
    settings.POSTING_ONE_CALL = False  # the full path's INSERTs
    posting_create(
        request_no="full",
        business_type="transfer",
        posted_by="t",
        legs=[Leg.debit(wallet.account_no, "2"), Leg.credit(payee.account_no, "2")],
    )
    posting_create_batch(
        [
            PostingRequest(
                request_no="full-b",
                business_type="transfer",
                legs=[Leg.debit(wallet.account_no, "3"), Leg.credit(payee.account_no, "3")],
            )
        ],
        posted_by="t",
    )
    for account in (wallet, payee, ledger.channel()):
        assert chain_breaks(account) == []
    assert Entry.objects.filter(account=wallet).count() == 8
    assert Entry.objects.filter(entry_hash__isnull=True).count() == 0
    assert len(set(hashes(wallet))) == 8


@pytest.mark.django_db
def test_a_buffered_entry_is_hashed_when_the_flush_gives_it_its_place(ledger):
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    payer = ledger.cash()
    ledger.recharge(payer, "100")
    for n in range(5):
        posting_create(
            request_no=f"fee-{n}",
            business_type="fee",
            posted_by="t",
            legs=[Leg.debit(payer.account_no, "0.10"), Leg.credit(fee.account_no, "0.10")],
        )
    assert list(Entry.objects.filter(account=fee).values_list("entry_hash", flat=True)) == [None] * 5
    assert buffers_flush(batch_size=2) == 5  # three batches, each chaining on the one before
    assert chain_breaks(fee) == []
    assert Entry.objects.filter(account=fee, entry_hash__isnull=True).count() == 0
    # Each batch is applied by one UPDATE: its statement triggers fire once.
    applied = Event.objects.filter(type="entries.applied", aggregate_id=fee.id).order_by("id")
    assert [[x["account_seq"] for x in e.payload["entries"]] for e in applied] == [[1, 2], [3, 4], [5]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("supplied", ["right", "missing", "chained on nothing", "of other content"])
def test_applying_a_pending_entry_by_hand_takes_its_right_hash_only(runtime_sql, ledger, supplied):
    """The flush's UPDATE supplies the hashes it chained; one typed by hand
    must supply the very hash: sha256(its content || the previous entry's)."""
    fee = ledger.internal("FEE_INCOME")
    posting_mode_set(mode=PostingMode.BUFFERED, account=fee, actor="ops")
    payer = ledger.cash()
    ledger.recharge(payer, "100")
    for n in range(2):
        posting_create(
            request_no=f"fee-{n}",
            business_type="fee",
            posted_by="t",
            legs=[Leg.debit(payer.account_no, "0.10"), Leg.credit(fee.account_no, "0.10")],
        )
        if n == 0:
            buffers_flush()
    first = Entry.objects.get(account=fee, account_seq=1)
    pending = Entry.objects.values(*FIELDS).get(account=fee, account_seq__isnull=True)
    applied = {**pending, "account_seq": 2, "balance_before": Decimal("0.1"), "balance_after": Decimal("0.2")}
    applied.update(frozen_before=Decimal(0), frozen_after=Decimal(0))
    supplied_hash = {
        "right": entry_digest(applied, bytes(first.entry_hash)),
        "missing": None,
        "chained on nothing": entry_digest(applied, GENESIS),
        "of other content": entry_digest({**applied, "amount": Decimal("0.11")}, bytes(first.entry_hash)),
    }[supplied]
    apply = (
        "UPDATE postings_entry SET account_seq = 2, balance_before = 0.1, balance_after = 0.2, frozen_before = 0,"
        " frozen_after = 0, entry_hash = %s WHERE serial_no = %s"
    )
    if supplied == "right":
        runtime_sql(apply, [supplied_hash, pending["serial_no"]])
        assert chain_breaks(fee) == []
        return
    with pytest.raises(
        psycopg.errors.CheckViolation, match=r"\(seq 2\) does not continue .* applied with a missing or wrong hash"
    ):
        runtime_sql(apply, [supplied_hash, pending["serial_no"]])
    assert Entry.objects.get(serial_no=pending["serial_no"]).account_seq is None


@pytest.mark.django_db(transaction=True)
def test_a_hash_supplied_by_the_writer_is_overwritten(runtime_sql, ledger):
    a, b = ledger.cash(), ledger.internal("ESCROW")
    runtime_sql(
        """WITH p AS (INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id,
                      currency, accounting_date, memo, external_ref, posted_by, created_at)
                      VALUES ('rogue', 'own-hash', '', 'adjustment', %s, 'CNY', CURRENT_DATE, '', '', 'x', now())
                      RETURNING serial_no)
           INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency, balance_before,
                  balance_after, frozen_before, frozen_after, business_type, accounting_date, created_at, entry_hash)
           SELECT p.serial_no, v.account_id, 1, v.direction, 5, 'CNY', 0, v.after, 0, 0, 'adjustment', CURRENT_DATE,
                  now(), '\\xdeadbeef'::bytea
             FROM p, (VALUES (%s::bigint, 'D', -5), (%s::bigint, 'C', 5)) AS v(account_id, direction, after)""",
        [ledger.entity.id, a.id, b.id],
    )
    assert bytes(Entry.objects.get(account=a).entry_hash) != bytes.fromhex("deadbeef")
    assert chain_breaks(a) == [] and chain_breaks(b) == []


@pytest.mark.django_db(transaction=True)
def test_the_runtime_role_cannot_rewrite_a_hash(runtime_sql, ledger):
    a = ledger.cash()
    ledger.recharge(a, "10")
    with pytest.raises(psycopg.errors.RestrictViolation, match="append-only"):
        runtime_sql("UPDATE postings_entry SET entry_hash = '\\x00'::bytea WHERE account_id = %s", [a.id])
    assert chain_breaks(a) == []


@pytest.mark.django_db(transaction=True)
def test_an_entry_written_before_the_one_it_follows_is_refused(runtime_sql, ledger):
    """Within one statement, seq 3 before seq 2: at the end of the statement
    both exist and the balances continue, but seq 3 could not be hashed."""
    a, b = ledger.cash(), ledger.internal("ESCROW")
    ledger.recharge(a, "100")
    with pytest.raises(psycopg.errors.CheckViolation, match=r"\(seq 3\) does not continue .* it has no hash"):
        forged_posting(
            runtime_sql, ledger, (a, 3, "C", "3", 105, 108), (a, 2, "C", "5", 100, 105), (b, 1, "D", "8", 0, -8)
        )
    assert Entry.objects.filter(account=a).count() == 1


@pytest.mark.django_db(transaction=True)
def test_threads_posting_on_one_account_leave_a_chain_that_verifies(ledger):
    """Eight real threads, each with its own connection, post transfers into
    one account at once: the account's lock orders them, and each entry's
    hash is taken from the entry committed before it."""
    hub, payers = ledger.cash(), [ledger.cash() for _ in range(8)]
    for payer in payers:
        ledger.recharge(payer, "100")
    start, errors = threading.Barrier(len(payers)), []

    def work(n: int, payer) -> None:
        try:
            start.wait()
            for k in range(10):
                posting_create(
                    request_no=f"t-{n}-{k}",
                    business_type="transfer",
                    posted_by="t",
                    legs=[Leg.debit(payer.account_no, "1"), Leg.credit(hub.account_no, "1")],
                )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n, p)) for n, p in enumerate(payers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert Entry.objects.filter(account=hub).count() == 80
    assert ledger.balance(hub) == 80
    assert chain_breaks(hub) == []


@pytest.mark.django_db
def test_the_migration_chains_entries_written_before_it(ledger):
    """Entries of a ledger older than the chain (no hash yet) get, per account
    in sequence order, the very hashes the trigger gives new ones."""
    backfill = importlib.import_module("postings.migrations.0027_entry_hash_chain").BACKFILL
    a, b = ledger.cash(), ledger.cash()
    ledger.recharge(a, "50")
    posting_create(
        request_no="x",
        business_type="transfer",
        posted_by="t",
        legs=[Leg.debit(a.account_no, "20"), Leg.credit(b.account_no, "20")],
    )
    before = {acc.pk: hashes(acc) for acc in (a, b, ledger.channel())}
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE postings_entry DISABLE TRIGGER ALL")
        cursor.execute("UPDATE postings_entry SET entry_hash = NULL")
        cursor.execute("ALTER TABLE postings_entry ENABLE TRIGGER ALL")
        assert not Entry.objects.filter(entry_hash__isnull=False).exists()
        cursor.execute(backfill)
    assert {acc.pk: hashes(acc) for acc in (a, b, ledger.channel())} == before
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():  # the guards are on again
        with connection.cursor() as cursor:
            cursor.execute("UPDATE postings_entry SET account_seq = account_seq WHERE account_id = %s", [a.id])
