"""The posting service's statements (the one call; lock and write on the full
path) are prepared once per connection and then only executed on a generic
plan: PostgreSQL does not parse and plan them for every posting. Django's own
queries are not prepared."""

import pytest
from django.db import connection

from postings.services import Leg, posting_create

pytestmark = pytest.mark.django_db


def test_the_lock_and_the_write_are_prepared_and_reused(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100.00")
    for n in range(4):
        posting_create(
            request_no=f"prep-{n}",
            business_type="transfer",
            posted_by="test",
            legs=[Leg.debit(payer.account_no, "1.00"), Leg.credit(payee.account_no, "1.00")],
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    one_call = [runs for statement, runs in prepared if "ledger_post(" in statement]
    lock = [runs for statement, runs in prepared if "FOR NO KEY UPDATE" in statement]
    write = [runs for statement, runs in prepared if "INSERT INTO postings_posting" in statement]
    # The entity's first posting (the recharge) opened its calendar on the full path (lock, write); the four
    # transfers are one call each: one statement, planned once, run four times. (A call that fails the first
    # time a connection prepares it leaves that preparation unused: psycopg prepares it again.)
    assert max(one_call) >= 4 and len(one_call) <= 2
    assert len(lock) == 1 and len(write) == 1
    assert not [s for s, _ in prepared if "django_" in s or "auth_" in s]
