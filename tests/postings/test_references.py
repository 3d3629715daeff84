"""A caller's own references on what it books (issue 23 §3): ``trade_no``
groups the postings of one order (a trade is an order, its postings the
balance changes: 1:N) and ``metadata`` holds its searchable keys.

Every way a posting is written keeps them: the one call (ledger_post), the
full path, a batch by ledger_post_batch and by the full path, a posting by
rule, a hold's settlement (the hold's, unless the call gives its own) and a
reversal (the original's trade). They are part of the request: a retry with
other references is a conflict. Malformed ones are refused by the one home
of the rules (accounts.kernel.metadata) with a code naming the key, and by
PostgreSQL for a row written without Python."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import connection

from accounts.kernel import metadata as rules
from accounts.kernel.errors import IdempotencyConflict, InvalidMetadata, LedgerValidationError
from accounts.kernel.idempotency import canonical_amount, request_fingerprint
from postings.models import Hold, Posting
from postings.services import (
    FULL_PATH_FALLBACKS,
    Leg,
    PostingRequest,
    hold_place,
    hold_settle,
    posting_create,
    posting_create_batch,
    posting_create_by_rule,
    posting_reverse,
)

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "SO-2026-0042", "channel": "app", "buyer.city": "上海"}


@pytest.fixture
def pair(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "1000")
    return payer, payee


@pytest.fixture(params=["one call", "full path"])
def path(request, settings):
    """Each test below runs on both ways of writing a posting."""
    settings.POSTING_ONE_CALL = request.param == "one call"
    return request.param


def transfer(payer, payee, amount="10", *, request_no, **kw) -> Posting:
    return posting_create(
        request_no=request_no,
        business_type="transfer",
        legs=[Leg.debit(payer.account_no, amount), Leg.credit(payee.account_no, amount)],
        posted_by="trade",
        **kw,
    )


def stored(posting: Posting) -> tuple:
    row = Posting.objects.get(pk=posting.pk)
    return row.trade_no, row.metadata


# ------------------------------------------------------------ every path ----


def test_a_posting_keeps_its_trade_number_and_metadata(pair, path):
    payer, payee = pair
    fallbacks = sum(FULL_PATH_FALLBACKS.values())
    posting = transfer(payer, payee, request_no="pay-1", trade_no="T-1", metadata=ORDER)
    assert (posting.trade_no, posting.metadata) == ("T-1", ORDER)  # the answer is what was stored
    assert stored(posting) == ("T-1", ORDER)
    # Nothing fell back: with the one call on, the one call wrote it.
    assert sum(FULL_PATH_FALLBACKS.values()) == fallbacks
    plain = transfer(payer, payee, request_no="pay-2")
    assert stored(plain) == (None, {})


def test_a_batch_keeps_each_items_references_and_refuses_a_bad_one_alone(pair, path):
    payer, payee = pair
    legs = [Leg.debit(payer.account_no, "5"), Leg.credit(payee.account_no, "5")]
    items = [
        PostingRequest("b-1", "transfer", legs, trade_no="T-9", metadata={"line": "1"}),
        PostingRequest("b-2", "transfer", legs, metadata={"line": 2}),  # a number: refused
        PostingRequest("b-3", "transfer", legs, trade_no="T-9"),
        PostingRequest("b-4", "transfer", legs),
    ]
    results = posting_create_batch(items, posted_by="trade")
    assert [r.ok for r in results] == [True, False, True, True]
    assert isinstance(results[1].error, InvalidMetadata)
    assert results[1].error.fields == {"metadata.line": "int"}
    assert [(r.posting.trade_no, r.posting.metadata) for r in results if r.ok] == [
        ("T-9", {"line": "1"}),
        ("T-9", {}),
        (None, {}),
    ]
    assert [stored(r.posting) for r in results if r.ok] == [("T-9", {"line": "1"}), ("T-9", {}), (None, {})]
    again = posting_create_batch([items[0]], posted_by="trade")[0]
    assert again.posting.replayed and again.posting.pk == results[0].posting.pk
    other = PostingRequest("b-1", "transfer", legs, trade_no="T-9", metadata={"line": "one"})
    assert isinstance(posting_create_batch([other], posted_by="trade")[0].error, IdempotencyConflict)


def test_a_batch_repeating_a_request_with_other_metadata_conflicts_within_the_batch(pair):
    payer, payee = pair
    legs = [Leg.debit(payer.account_no, "5"), Leg.credit(payee.account_no, "5")]
    results = posting_create_batch(
        [
            PostingRequest("r-1", "transfer", legs, metadata={"a": "1"}),
            PostingRequest("r-1", "transfer", legs, metadata={"a": "2"}),
        ],
        posted_by="trade",
    )
    assert results[0].ok and isinstance(results[1].error, IdempotencyConflict)


def test_a_posting_by_rule_keeps_them_with_its_rule_version(ledger, path):
    member = ledger.cash()
    posting = posting_create_by_rule(
        business_type="recharge",
        request_no="rc-meta",
        params={"member_account": member.account_no, "channel_account": ledger.channel().account_no, "amount": "8"},
        posted_by="trade",
        trade_no="T-rc",
        metadata={"campaign": "spring"},
    )
    row = Posting.objects.get(pk=posting.pk)
    assert (row.trade_no, row.metadata, row.rule_version) == ("T-rc", {"campaign": "spring"}, 1)


def test_a_reversal_belongs_to_the_originals_trade(pair):
    payer, payee = pair
    original = transfer(payer, payee, request_no="pay-r", trade_no="T-r", metadata={"k": "v"})
    reversal = posting_reverse(serial_no=original.serial_no, request_no="rev-r", posted_by="trade")
    assert stored(reversal) == ("T-r", {})
    assert set(Posting.objects.filter(trade_no="T-r").values_list("pk", flat=True)) == {original.pk, reversal.pk}


# ----------------------------------------------------------------- holds ----


def test_a_settlement_takes_the_holds_references_unless_it_gives_its_own(pair):
    payer, payee = pair
    hold = hold_place(
        account_no=payer.account_no,
        amount="90",
        reason="order",
        request_no="h-1",
        actor="trade",
        trade_no="T-h",
        metadata={"order_id": "SO-7"},
    )
    assert Hold.objects.filter(pk=hold.pk).values_list("trade_no", "metadata").get() == ("T-h", {"order_id": "SO-7"})

    def settle(request_no, **kw):
        return hold_settle(
            hold_id=hold.id,
            request_no=request_no,
            amount="10",
            business_type="guarantee_settlement",
            actor="trade",
            counter_account_no=payee.account_no,
            **kw,
        )

    assert stored(settle("s-1")) == ("T-h", {"order_id": "SO-7"})
    assert stored(settle("s-2", trade_no="T-own")) == ("T-own", {"order_id": "SO-7"})
    assert stored(settle("s-3", metadata={"leg": "fee"})) == ("T-h", {"leg": "fee"})
    assert stored(settle("s-4", metadata={})) == ("T-h", {"order_id": "SO-7"})  # {}: not given
    # A retry naming other references than the first time is a conflict.
    assert settle("s-2", trade_no="T-own").replayed
    with pytest.raises(IdempotencyConflict):
        settle("s-2", trade_no="T-other")
    with pytest.raises(IdempotencyConflict):
        settle("s-1", metadata={"leg": "fee"})


def test_a_hold_retried_with_other_metadata_is_a_conflict(pair):
    payer, _ = pair

    def place(**kw):
        return hold_place(account_no=payer.account_no, amount="5", reason="r", request_no="h-2", actor="t", **kw)

    first = place(metadata={"a": "1"})
    assert place(metadata={"a": "1"}).replayed
    with pytest.raises(IdempotencyConflict):
        place(metadata={"a": "2"})
    with pytest.raises(IdempotencyConflict):
        place(metadata={"a": "1"}, trade_no="T")
    assert Hold.objects.get(pk=first.pk).metadata == {"a": "1"}


# ---------------------------------------------------------- fingerprints ----


def test_metadata_and_trade_number_are_part_of_the_request(pair, path):
    payer, payee = pair
    first = transfer(payer, payee, request_no="fp-1", trade_no="T-1", metadata={"a": "1", "b": "2"})
    # The same request (key order is no difference): the original.
    again = transfer(payer, payee, request_no="fp-1", trade_no="T-1", metadata={"b": "2", "a": "1"})
    assert again.replayed and again.pk == first.pk
    for changed in ({"trade_no": "T-2", "metadata": {"a": "1", "b": "2"}}, {"trade_no": "T-1", "metadata": {"a": "1"}}):
        with pytest.raises(IdempotencyConflict):
            transfer(payer, payee, request_no="fp-1", **changed)
    with pytest.raises(IdempotencyConflict):
        transfer(payer, payee, request_no="fp-1")  # without them
    assert Posting.objects.filter(request_no="fp-1").count() == 1


def test_a_request_without_references_fingerprints_as_before_they_existed(pair):
    """A posting booked before this change keeps its stored fingerprint: its
    retry after the deploy must still be a replay, not a conflict."""
    payer, payee = pair
    posting = transfer(payer, payee, "10", request_no="old-1")
    before = request_fingerprint(
        op="post",
        business_type="transfer",
        legs=sorted([[payer.account_no, "D", canonical_amount("10")], [payee.account_no, "C", canonical_amount("10")]]),
        memo="",
        currency=None,
        external_ref="",
        corrects_date=None,
    )
    assert Posting.objects.get(pk=posting.pk).fingerprint == before


# ------------------------------------------------------------ validation ----


@pytest.mark.parametrize(
    ("metadata", "field", "says"),
    [
        (["a"], "metadata", "JSON object"),
        ("a=1", "metadata", "JSON object"),
        ({f"k{i}": "v" for i in range(51)}, "metadata", "at most 50 keys"),
        ({"bad key": "v"}, "metadata", "bad key"),
        ({"": "v"}, "metadata", "1 to 64"),
        ({"k" * 65: "v"}, "metadata", "1 to 64"),
        ({"键": "v"}, "metadata", "键"),
        ({"n": 100}, "metadata.n", "must be a string"),
        ({"b": True}, "metadata.b", "must be a string"),
        ({"o": {"nested": "x"}}, "metadata.o", "must be a string"),
        ({"l": ["x"]}, "metadata.l", "must be a string"),
        ({"z": None}, "metadata.z", "must be a string"),
        ({"long": "x" * 501}, "metadata.long", "501 characters"),
        ({"nul": "a\x00b"}, "metadata.nul", "NUL"),
        ({f"k{i}": "汉" * 100 for i in range(14)}, "metadata", "bytes"),  # 14 * (3 + 300) > 4096
    ],
)
def test_malformed_metadata_is_refused_naming_the_key_and_nothing_is_written(pair, path, metadata, field, says):
    payer, payee = pair
    with pytest.raises(InvalidMetadata, match=says) as refused:
        transfer(payer, payee, request_no="bad-1", metadata=metadata)
    assert refused.value.code == "invalid_metadata" and refused.value.http_status == 400
    assert set(refused.value.fields) == {field}
    assert not Posting.objects.filter(request_no="bad-1").exists()


@pytest.mark.parametrize("trade_no", ["", "t" * 65, "a\x00b", 42])
def test_a_malformed_trade_number_is_refused(pair, trade_no):
    payer, payee = pair
    with pytest.raises(LedgerValidationError) as refused:
        transfer(payer, payee, request_no="bad-2", trade_no=trade_no)
    assert refused.value.code == "validation_error" and set(refused.value.fields) == {"trade_no"}
    assert not Posting.objects.filter(request_no="bad-2").exists()


def test_metadata_at_every_limit_is_taken(pair, path):
    payer, payee = pair
    at_limits = {f"k{i:02d}": "x" * 79 for i in range(49)}  # 49 * (3 + 79) = 4018 bytes
    at_limits["k" * 64] = "y" * 14  # 50 keys, 4096 bytes
    assert rules._size(at_limits) == rules.MAX_BYTES and len(at_limits) == rules.MAX_KEYS
    assert stored(transfer(payer, payee, request_no="lim-1", metadata=at_limits))[1] == at_limits
    longest = {"v": "汉" * 500}  # 500 characters (1,500 bytes)
    assert stored(transfer(payer, payee, request_no="lim-2", metadata=longest, trade_no="t" * 64)) == (
        "t" * 64,
        longest,
    )


# -------------------------------------------------- the database refuses ----

CASES = [
    {},
    {"a": "b"},
    {"a.b_c-D9": "x" * 500},
    ["a"],
    "text",
    7,
    {"a b": "x"},
    {"": "x"},
    {"k" * 64: "x"},
    {"k" * 65: "x"},
    {"é": "x"},
    {"a": 1},
    {"a": True},
    {"a": None},
    {"a": {"b": "c"}},
    {"a": "x" * 501},
    {"a": "汉" * 500},
    {f"k{i}": "v" for i in range(50)},
    {f"k{i}": "v" for i in range(51)},
    {f"k{i:02d}": "x" * 79 for i in range(49)} | {"k" * 64: "y" * 14},
    {f"k{i:02d}": "x" * 79 for i in range(49)} | {"k" * 64: "y" * 15},
]


@pytest.mark.parametrize("value", CASES, ids=lambda v: json.dumps(v, ensure_ascii=False)[:40])
def test_the_database_function_refuses_exactly_what_python_refuses(value):
    """The two statements of the rules agree, at each limit and just past it."""
    try:
        rules.clean_metadata(value)
        python_refuses = False
    except InvalidMetadata:
        python_refuses = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT ledger_metadata_refusal(%s::jsonb)", [json.dumps(value)])
        (refusal,) = cursor.fetchone()
    assert (refusal is not None) == python_refuses, refusal


POSTING_SQL = """
    INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,
                                  accounting_date, memo, external_ref, posted_by, trade_no, metadata, created_at)
    SELECT 'rogue', %s, 'x', 'transfer', e.id, 'CNY', current_date, '', '', 'rogue', %s, %s::jsonb, now()
      FROM accounts_entity e WHERE e.code = 'MAIN'
"""
HOLD_SQL = """
    INSERT INTO postings_hold (account_id, amount, remaining, status, reason, source_system, request_no, fingerprint,
                               created_by, trade_no, metadata, created_at, updated_at)
    VALUES (%s, 1, 1, 'held', 'rogue', 'rogue', %s, 'x', 'rogue', %s, %s::jsonb, now(), now())
"""
WITHDRAWAL_SQL = """
    INSERT INTO withdrawals_withdrawal (source_system, request_no, fingerprint, account_id, member_id, entity_id,
                                        currency, amount, fee, card_holder, card_bank, card_number, card_masked,
                                        status, hold_id, approvals_required, review_rules, closing_reason,
                                        trade_no, metadata, created_at, updated_at)
    VALUES ('rogue', %s, 'x', 0, 0, 0, 'CNY', 1, 0, 'h', 'b', '6222', '6222', 'requested', 0, 1, '[]', '',
            %s, %s::jsonb, now(), now())
"""
REFUSED = [
    ("[]", None, "metadata_valid"),
    ('"text"', None, "metadata_valid"),
    ('{"a": 1}', None, "metadata_valid"),
    ('{"a b": "x"}', None, "metadata_valid"),
    (json.dumps({"a": "x" * 501}), None, "metadata_valid"),
    (json.dumps({f"k{i}": "v" for i in range(51)}), None, "metadata_valid"),
    (json.dumps({f"k{i}": "汉" * 100 for i in range(14)}), None, "metadata_valid"),
    ("{}", "", "trade_no_not_empty"),
]


@pytest.mark.parametrize(("metadata", "trade_no", "constraint"), REFUSED)
@pytest.mark.parametrize("table", ["posting", "hold", "withdrawal"])
def test_the_database_refuses_malformed_references_written_by_hand(
    ledger, runtime_sql, table, metadata, trade_no, constraint
):
    account = ledger.cash()
    sql, params = {
        "posting": (POSTING_SQL, ["rogue-1", trade_no, metadata]),
        "hold": (HOLD_SQL, [account.pk, "rogue-1", trade_no, metadata]),
        "withdrawal": (WITHDRAWAL_SQL, ["rogue-1", trade_no, metadata]),
    }[table]
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        runtime_sql(sql, params)
    assert refused.value.diag.constraint_name == f"{table}_{constraint}"


def test_ledger_post_called_as_before_its_new_arguments_writes_none(pair, runtime_sql):
    """ledger_post's new arguments have defaults: a caller of the old
    thirteen (a script, a benchmark) still books, without references."""
    payer, payee = pair
    ((serial_no, *_),) = runtime_sql(
        "SELECT * FROM ledger_post('bysql', 'hand-1', 'x', 'transfer', NULL, '', '', 'dba', %s, %s, %s, '{}', NULL)",
        [[payer.account_no, payee.account_no], ["D", "C"], ["1.00", "1.00"]],
    )
    assert Posting.objects.filter(pk=serial_no).values_list("trade_no", "metadata").get() == (None, {})
    ((serial_no, *_),) = runtime_sql(
        "SELECT * FROM ledger_post('bysql', 'hand-2', 'x', 'transfer', NULL, '', '', 'dba', %s, %s, %s, '{}', NULL,"
        " 'T-sql', '{\"k\": \"v\"}')",
        [[payer.account_no, payee.account_no], ["D", "C"], ["1.00", "1.00"]],
    )
    assert Posting.objects.filter(pk=serial_no).values_list("trade_no", "metadata").get() == ("T-sql", {"k": "v"})
