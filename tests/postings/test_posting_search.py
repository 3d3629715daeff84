"""postings_search (GET /api/v1/postings): each of the caller's references
is one scan of its own index, checked on the plan PostgreSQL makes for the
query the API runs (newest first, a page of 51), among 20,000 postings with
fresh statistics. The rows are written by SQL in the test's transaction and
never committed, and without the guards (a posting without entries could
not be)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from postings.selectors import postings_search
from tests.conftest import as_owner_bypassing_guards

pytestmark = pytest.mark.django_db

N = 20_000
PAGE = 51  # what PostingCursor reads for a page of 50


@pytest.fixture
def many_postings(ledger):
    """N postings over N minutes up to now: every 10th with metadata, every
    3 sharing a trade number; request numbers unique per source system."""
    start = timezone.now() - timedelta(minutes=N)
    # Without the guards: the check that a posting has entries would refuse
    # these when the test ends (Django checks deferred constraints then).
    with as_owner_bypassing_guards(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,
                                          accounting_date, memo, external_ref, posted_by, trade_no, metadata,
                                          created_at)
            SELECT CASE WHEN i %% 2 = 0 THEN 'trade' ELSE 'shop' END, 'req-' || i, 'x', 'transfer', e.id, 'CNY',
                   current_date, '', 'ext-' || i, 'test',
                   CASE WHEN i %% 4 <> 0 THEN 'T-' || (i / 3) END,
                   CASE WHEN i %% 10 = 0 THEN jsonb_build_object('order_id', 'SO-' || i, 'channel', 'app')
                        ELSE '{}' END,
                   %s + i * interval '1 minute'
              FROM generate_series(1, %s) AS i, accounts_entity e
             WHERE e.code = 'MAIN'
            """,
            [start, N],
        )
        cursor.execute("ANALYZE postings_posting")
    return start


def plan(queryset) -> str:
    return queryset[:PAGE].explain()


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"request_no": "req-777"}, "posting_request_no_idx"),
        # Either index finds the one row.
        ({"source_system": "shop", "request_no": "req-777"}, ("posting_unique_request", "posting_request_no_idx")),
        ({"external_ref": "ext-777"}, "posting_external_ref_idx"),
        ({"trade_no": "T-259"}, "posting_trade_no_idx"),
        ({"metadata": {"order_id": "SO-7770"}}, "posting_metadata_gin"),
        ({"metadata": {"order_id": "SO-7770", "channel": "app"}}, "posting_metadata_gin"),
    ],
)
def test_each_reference_is_one_index_scan(many_postings, filters, index):
    text = plan(postings_search(**filters))
    assert any(name in text for name in ([index] if isinstance(index, str) else index)), text
    assert "Seq Scan" not in text, text
    assert text.count("Index Scan") + text.count("Index Only Scan") == 1, text


def test_a_time_range_is_one_index_scan(many_postings):
    start = many_postings
    text = plan(postings_search(created_from=start + timedelta(minutes=500), created_to=start + timedelta(minutes=530)))
    assert "posting_created_at_idx" in text and "Seq Scan" not in text, text


def test_a_trades_postings_come_in_order_from_the_index_without_a_sort(many_postings):
    """(trade_no, serial_no): the newest first and the next page's bound are
    read off the index."""
    text = plan(postings_search(trade_no="T-259").filter(serial_no__lt=10**9))
    assert "posting_trade_no_idx" in text and "Sort" not in text, text


def test_the_search_finds_what_the_filters_name(many_postings):
    found = list(postings_search(metadata={"order_id": "SO-7770"}).values_list("request_no", flat=True))
    assert found == ["req-7770"]
    trade = list(postings_search(trade_no="T-259").values_list("request_no", flat=True))
    assert trade == ["req-779", "req-778", "req-777"]  # 777 // 3 == 259, newest first
    assert postings_search(source_system="trade", request_no="req-777").count() == 0  # odd: shop's
