"""The posting service's two statements (lock, write) are prepared once per
connection and then only executed on a generic plan: PostgreSQL does not
parse and plan them for every posting. Django's own queries are not prepared."""

import pytest
from django.db import connection

from postings.services import Leg, posting_create

pytestmark = pytest.mark.django_db


def test_the_lock_and_the_write_are_prepared_and_reused(ledger):
    payer, payee = ledger.cash(), ledger.cash()
    ledger.recharge(payer, "100.00")
    for n in range(4):
        posting_create(request_no=f"prep-{n}", business_type="transfer", posted_by="test",
                       legs=[Leg.debit(payer.account_no, "1.00"), Leg.credit(payee.account_no, "1.00")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    lock = [runs for statement, runs in prepared if "FOR NO KEY UPDATE" in statement]
    write = [runs for statement, runs in prepared if "INSERT INTO postings_posting" in statement]
    # The recharge and the four transfers: one statement, five runs, each on the plan made once.
    assert len(lock) == 1 and lock[0] >= 5
    assert len(write) == 1 and write[0] >= 5
    assert not [s for s, _ in prepared if "django_" in s or "auth_" in s]
