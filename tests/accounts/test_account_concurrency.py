"""Opening accounts from parallel connections (one per thread)."""

import pytest

from accounts.kernel.errors import LedgerValidationError
from accounts.models import Account
from accounts.services import account_open
from tests.postings.test_concurrency import run_parallel

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_opens_of_a_type_found_by_type_give_one_account(ledger):
    workers = 6
    outcomes = run_parallel(
        workers, lambda i: account_open(entity=ledger.entity, account_type=ledger.types["FEE_INCOME"])
    )
    opened = [o for o in outcomes if isinstance(o, Account)]
    refused = [o for o in outcomes if isinstance(o, LedgerValidationError)]
    assert (len(opened), len(refused)) == (1, workers - 1), outcomes
    assert Account.objects.filter(account_type__code="FEE_INCOME", entity=ledger.entity).count() == 1
