"""Opening accounts from parallel connections (one per thread)."""

import threading

import pytest
from django.db import connection

from accounts.models import Account
from accounts.services import account_open
from postings.exceptions import LedgerValidationError

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_opens_of_a_type_found_by_type_give_one_account(ledger):
    workers = 6
    barrier = threading.Barrier(workers)
    outcomes: list = [None] * workers

    def open_fee_income(i):
        try:
            barrier.wait()
            outcomes[i] = account_open(entity=ledger.entity, account_type=ledger.types["FEE_INCOME"])
        except LedgerValidationError as refused:
            outcomes[i] = refused
        finally:
            connection.close()

    threads = [threading.Thread(target=open_fee_income, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    opened = [o for o in outcomes if isinstance(o, Account)]
    refused = [o for o in outcomes if isinstance(o, LedgerValidationError)]
    assert (len(opened), len(refused)) == (1, workers - 1), outcomes
    assert Account.objects.filter(account_type__code="FEE_INCOME", entity=ledger.entity).count() == 1
