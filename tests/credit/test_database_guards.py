"""What the database refuses of the credit product even when Python is
bypassed (postings/credit/sql/credit.sql, postings/sql/credit_limit.sql):
forgeries as the runtime role would commit them with raw SQL, each in a
transaction of its own, refused at the statement or at COMMIT."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
import pytest

from accounts.models import Account
from accounts.services import account_set_credit_limit
from postings.credit.models import Bill, CreditAccrual, CreditAllocation

from .books import D, bills_of, buy, member, open_on, product, run_until

pytestmark = pytest.mark.django_db(transaction=True)


def committed(runtime_sql, *statements):
    """(sql, params) pairs run as the runtime role in one transaction, committed."""
    conn = runtime_sql.connection
    with conn.transaction(), conn.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def refused(runtime_sql, *statements, rule: str):
    with pytest.raises(psycopg.errors.CheckViolation, match=rule):
        committed(runtime_sql, *statements)


def forged_posting(business_type: str, legs: list[tuple[Account, str, Decimal]], day: date, request_no: str):
    """The statements a posting is, written by hand: the posting with its
    entries (continuing each account's chain) and the accounts' balances."""
    rows = []
    for account, direction, amount in legs:
        fresh = Account.objects.get(pk=account.pk)
        raises = (direction == "D") == (fresh.category == "asset")
        after = fresh.balance + (amount if raises else -amount)
        rows.append((fresh.pk, fresh.entry_seq + 1, direction, amount, fresh.balance, after, fresh.frozen))
    columns = list(zip(*rows))
    entity_id = legs[0][0].entity_id
    insert = (
        """WITH p AS (
               INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id,
                                             currency, accounting_date, memo, external_ref, posted_by, created_at)
               VALUES ('rogue', %s, '', %s, %s, 'CNY', %s, '', '', 'rogue', now()) RETURNING serial_no)
           INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency,
                                       balance_before, balance_after, frozen_before, frozen_after, business_type,
                                       accounting_date, created_at)
           SELECT p.serial_no, v.id, v.seq, v.direction, v.amount, 'CNY', v.before, v.after, v.frozen, v.frozen,
                  %s, %s, now()
             FROM p, unnest(%s::bigint[], %s::bigint[], %s::text[], %s::numeric[], %s::numeric[], %s::numeric[],
                            %s::numeric[]) AS v(id, seq, direction, amount, before, after, frozen)""",
        [request_no, business_type, entity_id, day, business_type, day, *map(list, columns)],
    )
    balances = (
        """UPDATE accounts_account a SET balance = v.after, entry_seq = v.seq
             FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[]) AS v(id, seq, after) WHERE a.id = v.id""",
        [list(columns[0]), list(columns[1]), list(columns[5])],
    )
    return insert, balances


@pytest.fixture
def billed(ledger):
    """A member who bought 1,000.00 in January and paid nothing: billed 1 Feb, due 10 Feb, accruing since."""
    open_on(ledger.entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger, limit="1000")
    buy(m, "1000.00")
    run_until(ledger.entity, date(2026, 2, 13))
    return m


# ------------------------------------------------------------ the limit ----


def test_a_purchase_written_by_hand_beyond_the_limit_is_refused(runtime_sql, ledger):
    open_on(ledger.entity, date(2026, 1, 1))
    m = member(ledger, limit="100")
    refused(
        runtime_sql,
        *forged_posting(
            "credit_purchase", [(m.credit, "D", D("100.01")), (m.shop, "C", D("100.01"))], date(2026, 1, 1), "rogue-1"
        ),
        rule="account_within_credit_limit",
    )
    assert Account.objects.get(pk=m.credit.pk).balance == 0


def test_a_purchase_after_a_limit_cut_is_refused_and_an_accrual_is_not(runtime_sql, ledger):
    open_on(ledger.entity, date(2026, 1, 1))
    product(ledger)
    m = member(ledger, limit="1000")
    buy(m, "600.00")
    account_set_credit_limit(account=m.credit, credit_limit="500", reason="risk", actor="risk")
    day = date(2026, 1, 1)
    refused(
        runtime_sql,
        *forged_posting("credit_purchase", [(m.credit, "D", D("1")), (m.shop, "C", D("1"))], day, "rogue-2"),
        rule="account_within_credit_limit",
    )
    income = ledger.internal("INTEREST_INCOME")
    committed(
        runtime_sql, *forged_posting("credit_interest", [(m.credit, "D", D("1")), (income, "C", D("1"))], day, "i")
    )
    assert Account.objects.get(pk=m.credit.pk).balance == D("601")


def test_a_hold_on_a_line_above_its_limit_is_refused_and_a_repayment_is_not(ledger):
    from accounts.exceptions import InsufficientFunds
    from postings.services import hold_place

    open_on(ledger.entity, date(2026, 1, 1))
    m = member(ledger, limit="1000")
    buy(m, "600.00")
    account_set_credit_limit(account=m.credit, credit_limit="500", reason="risk", actor="risk")
    with pytest.raises(InsufficientFunds):
        hold_place(account_no=m.credit.account_no, amount="1", reason="pre-auth", request_no="h1", actor="shop")
    assert Account.objects.get(pk=m.credit.pk).frozen == 0


def test_the_limit_history_is_never_changed(runtime_sql, ledger):
    credit = ledger.credit(limit="100")
    change = account_set_credit_limit(account=credit, credit_limit="50", reason="risk", actor="risk")
    for sql in (
        "UPDATE accounts_creditlimitchange SET new_limit = 80 WHERE id = %s",
        "DELETE FROM accounts_creditlimitchange WHERE id = %s",
    ):
        refused(runtime_sql, (sql, [change.pk]), rule="credit_limit_change_append_only")


# ---------------------------------------------------------------- bills ----


@pytest.mark.parametrize(
    "sql",
    ["UPDATE postings_bill SET minimum_due = 0 WHERE id = %s", "DELETE FROM postings_bill WHERE id = %s"],
)
def test_an_issued_bill_is_never_changed(runtime_sql, billed, sql):
    (bill,) = bills_of(billed.credit)
    refused(runtime_sql, (sql, [bill.pk]), rule="bill_immutable")
    assert Bill.objects.get(pk=bill.pk).minimum_due == D("100")


COPY_BILL = """
    INSERT INTO postings_bill (account_id, product_id, product_version, currency, period_start, period_end,
        billing_date, due_date, opening, purchases, repayments, refunds, interest, penalties, other_debits,
        other_credits, closing, amount_due, minimum_due, closing_principal, closing_interest, closing_penalty,
        entry_count, issued_at, issued_on, issued_by)
    SELECT account_id, product_id, product_version, currency, %s, %s, %s, %s, opening, purchases + %s, repayments,
           refunds, interest, penalties, other_debits, other_credits, closing + %s, amount_due + %s, minimum_due,
           closing_principal + %s, closing_interest, closing_penalty, entry_count, now(), issued_on, 'rogue'
      FROM postings_bill WHERE id = %s"""


def test_a_bill_that_says_other_than_the_entries_is_refused(runtime_sql, billed):
    (bill,) = bills_of(billed.credit)
    # Another period end (2026-01-30) with the January figures plus 1.00: the entries to the 30th add up to 1,000.00.
    refused(
        runtime_sql,
        (COPY_BILL, [date(2026, 1, 1), date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 9), 1, 1, 1, 1, bill.pk]),
        rule="bill_is_the_ledger",
    )


def test_a_bill_of_a_day_still_open_is_refused(runtime_sql, billed):
    (bill,) = bills_of(billed.credit)
    refused(
        runtime_sql,
        (COPY_BILL, [date(2026, 2, 1), date(2026, 2, 13), date(2026, 2, 14), date(2026, 2, 23), 0, 0, 0, 0, bill.pk]),
        rule="bill_covers_cut_days",
    )


# ------------------------------------------------------------- accruals ----


def test_accruals_and_allocations_are_never_changed(runtime_sql, billed):
    accrual = CreditAccrual.objects.filter(account=billed.credit).first()
    refused(
        runtime_sql,
        ("UPDATE postings_creditaccrual SET amount = 0.01 WHERE id = %s", [accrual.pk]),
        rule="credit_accrual_append_only",
    )
    refused(runtime_sql, ("DELETE FROM postings_creditaccrual WHERE id = %s", [accrual.pk]), rule="append_only")


COPY_ACCRUAL = """
    INSERT INTO postings_creditaccrual (account_id, accrual_date, kind, bill_id, base, rate, amount, places,
        posting_id, product_version, booked_by, created_at)
    SELECT account_id, %s, kind, bill_id, base, rate, %s, places, posting_id, product_version, 'rogue', now()
      FROM postings_creditaccrual WHERE id = %s"""


def test_an_accrual_is_base_times_rate_rounded_half_up_and_is_its_posting(runtime_sql, billed):
    accrual = CreditAccrual.objects.filter(account=billed.credit, kind="interest").first()
    assert (accrual.base, accrual.rate, accrual.amount) == (D("1000"), D("0.0005"), D("0.50"))
    refused(runtime_sql, (COPY_ACCRUAL, [date(2026, 3, 1), D("0.51"), accrual.pk]), rule="credit_accrual_rounded")
    # Right figures, but its posting is another day's accrual already: the posting is one accrual's.
    with pytest.raises(psycopg.errors.UniqueViolation):
        committed(runtime_sql, (COPY_ACCRUAL, [date(2026, 3, 1), D("0.50"), accrual.pk]))


def test_an_allocation_is_one_credit_of_its_amount(runtime_sql, ledger, billed):
    from postings.credit.services import bill_repay

    paid = bill_repay(
        credit_account_no=billed.credit.account_no,
        cash_account_no=billed.cash.account_no,
        amount="10",
        request_no="r1",
        posted_by="t",
    )
    a = paid.allocation
    assert (a.penalty, a.interest, a.principal) == (D("0.09"), D("1.50"), D("8.41"))
    refused(
        runtime_sql,
        (
            """INSERT INTO postings_creditallocation (posting_id, account_id, account_seq, accounting_date, kind,
                   amount, penalty, interest, principal, allocation_order, recorded_by, created_at)
               VALUES (%s, %s, %s, %s, 'repayment', 20, 0, 0, 20, 'x', 'rogue', now())""",
            [a.posting_id, a.account_id, a.account_seq + 1, a.accounting_date],
        ),
        rule="credit_allocation_is_its_credit",
    )
    assert CreditAllocation.objects.filter(account=billed.credit).count() == 1
