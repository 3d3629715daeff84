"""Entries corrupted behind the ledger's back (raw SQL, triggers off) are
caught by the end-of-day checks, and the checks name what broke.

The day (Nov 2): P1 recharge Alice 500, P2 recharge Bob 300, P3 transfer
Alice -> Bob 120, so Alice closes at 380, Bob at 420, the channel at -800.
"""

from datetime import date

import pytest
from django.db import connection

from accounts.models import Account
from postings.models import Entry
from reports.eod.checks import checks_run
from reports.eod.day import DETAILS_CAP
from reports.eod.models import CheckResult, DailyBalance
from reports.eod.services import eod_run

from .eod_books import checks, failed_checks, forge, open_books_on, post, tamper

pytestmark = pytest.mark.django_db

NOV2, NOV3 = date(2026, 11, 2), date(2026, 11, 3)
ALL_CHECKS = {
    "account_balance",
    "entry_chain",
    "last_entry",
    "debits_credits",
    "identity",
    "subject_totals",
    "live_balance",
    "frozen_holds",
    "hold_events",
    "escrow_orders",
}


@pytest.fixture
def day(ledger):
    open_books_on(ledger.entity, NOV2)
    alice, bob, channel = ledger.cash(), ledger.cash(), ledger.channel()
    p1 = post("recharge", member_account=alice, channel_account=channel, amount="500")
    p2 = post("recharge", member_account=bob, channel_account=channel, amount="300")
    p3 = post("transfer", payer_account=alice, payee_account=bob, amount="120")
    return ledger.entity, alice, bob, channel, p1, p2, p3


def entry(posting, account) -> Entry:
    return Entry.objects.get(posting=posting, account=account)


def test_a_clean_day_passes_every_check(day):
    entity, *_ = day
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    assert set(checks(entity, NOV2)) == ALL_CHECKS
    assert failed_checks(entity, NOV2) == set()


def test_an_amount_changed_in_place_is_named_by_entry_account_and_posting(day):
    entity, alice, bob, channel, p1, p2, p3 = day
    bad = entry(p3, alice)  # Dr Alice 120, before 500, after 380
    tamper("UPDATE postings_entry SET amount = 130 WHERE serial_no = %s", [bad.serial_no])

    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    found = checks(entity, NOV2)
    assert failed_checks(entity, NOV2) == {"last_entry", "entry_chain", "debits_credits", "identity", "live_balance"}
    # The sheet and the subject totals are both built from the same (bad) entries, so they agree.
    assert found["account_balance"].passed and found["subject_totals"].passed

    (chain,) = found["entry_chain"].details
    assert (chain["entry"], chain["account_no"]) == (bad.serial_no, alice.account_no)
    assert chain["problem"] == "balance after 380.0000 != 500.0000 -130.0000"

    (account,) = found["last_entry"].details
    assert account["account_no"] == alice.account_no and account["entry"] == bad.serial_no
    assert account["problem"] == f"closing 370.0000 != balance after 380.0000 of entry {bad.serial_no}"

    currency, posting = found["debits_credits"].details
    assert currency == {"currency": "CNY", "debit": "930.0000", "credit": "920.0000", "difference": "10.0000"}
    assert posting["posting"] == p3.serial_no
    assert posting["entries"] == sorted(Entry.objects.filter(posting=p3).values_list("serial_no", flat=True))

    assert found["identity"].details == [
        {
            "currency": "CNY",
            "asset": "0.0000",
            "liability": "790.0000",
            "internal": "-800.0000",
            "difference": "10.0000",
        }
    ]
    (live,) = found["live_balance"].details
    assert (live["account_no"], live["balance"], live["closing"]) == (alice.account_no, "380.0000", "370.0000")


def test_an_inserted_entry_is_caught_by_the_totals_though_its_chain_is_consistent(day):
    """A forged credit of 10 to Bob, appended neatly to his chain and to P3."""
    entity, alice, bob, channel, p1, p2, p3 = day
    last = Entry.objects.filter(account=bob).order_by("-account_seq").first()
    tamper(
        """
        INSERT INTO postings_entry (posting_id, account_id, account_seq, direction, amount, currency,
               balance_before, balance_after, frozen_before, frozen_after, business_type, accounting_date,
               created_at)
        VALUES (%s, %s, %s, 'C', 10, 'CNY', %s, %s, 0, 0, 'transfer', %s, now())""",
        [p3.serial_no, bob.pk, last.account_seq + 1, last.balance_after, last.balance_after + 10, NOV2],
    )
    forged = Entry.objects.get(account=bob, account_seq=last.account_seq + 1)

    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    found = checks(entity, NOV2)
    assert failed_checks(entity, NOV2) == {"debits_credits", "identity", "live_balance"}
    assert found["debits_credits"].details[1]["posting"] == p3.serial_no
    assert forged.serial_no in found["debits_credits"].details[1]["entries"]
    (live,) = found["live_balance"].details
    assert (live["account_no"], live["balance"], live["closing"]) == (bob.account_no, "420.0000", "430.0000")


def test_a_broken_link_in_the_chain_is_named_only_by_the_chain_check(day):
    entity, alice, bob, channel, p1, p2, p3 = day
    bad = entry(p3, bob)  # Cr Bob 120, before 300, after 420
    tamper("UPDATE postings_entry SET balance_before = 299 WHERE serial_no = %s", [bad.serial_no])

    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    assert failed_checks(entity, NOV2) == {"entry_chain"}
    (chain,) = checks(entity, NOV2)["entry_chain"].details
    assert (chain["entry"], chain["account_no"], chain["account_seq"]) == (bad.serial_no, bob.account_no, 2)
    assert chain["problem"] == (
        "balance before 299.0000 != previous balance after 300.0000; balance after 420.0000 != 299.0000 +120.0000"
    )


def test_a_deleted_entry_is_named_by_the_entry_that_follows_it(day):
    entity, alice, bob, channel, p1, p2, p3 = day
    p4 = post("transfer", payer_account=bob, payee_account=alice, amount="20")
    gone, after_gap = entry(p3, bob), entry(p4, bob)
    tamper("DELETE FROM postings_entry WHERE serial_no = %s", [gone.serial_no])

    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    found = checks(entity, NOV2)
    assert {"entry_chain", "debits_credits", "identity", "live_balance"} <= failed_checks(entity, NOV2)
    (chain,) = found["entry_chain"].details
    assert (chain["entry"], chain["account_no"]) == (after_gap.serial_no, bob.account_no)
    assert chain["problem"] == "previous entry (seq 2) is missing"
    assert found["debits_credits"].details[1]["posting"] == p3.serial_no


def test_the_chain_is_checked_across_days_against_the_last_entry_of_an_earlier_day(day):
    """Nov 2 closed clean; afterwards Alice's last Nov 2 entry is altered.
    Nov 3's first entry of Alice no longer continues it, and Nov 3 says so."""
    entity, alice, bob, channel, p1, p2, p3 = day
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    last_nov2 = entry(p3, alice)
    p4 = post("transfer", payer_account=alice, payee_account=bob, amount="2")  # Nov 3, from 380 (the real balance)
    # After p4: the database refuses a posting that does not continue the chain it finds (postings/sql/guards.sql).
    tamper("UPDATE postings_entry SET balance_after = 381 WHERE serial_no = %s", [last_nov2.serial_no])
    first_nov3 = entry(p4, alice)
    assert first_nov3.accounting_date == NOV3

    eod_run(entity=entity, accounting_date=NOV3, actor="ops")
    (chain,) = checks(entity, NOV3)["entry_chain"].details
    assert (chain["entry"], chain["previous_balance_after"]) == (first_nov3.serial_no, "381.0000")
    assert chain["problem"] == "balance before 380.0000 != previous balance after 381.0000"


def test_a_tampered_balance_sheet_is_caught_when_the_checks_run_again(day):
    entity, alice, bob, channel, p1, p2, p3 = day
    eod_run(entity=entity, accounting_date=NOV2, actor="ops")
    DailyBalance.objects.filter(accounting_date=NOV2, account=bob).delete()
    DailyBalance.objects.filter(accounting_date=NOV2, account=alice).update(closing=381)
    checks_run(entity=entity, accounting_date=NOV2)
    found = checks(entity, NOV2)
    assert failed_checks(entity, NOV2) == {
        "account_balance",
        "last_entry",
        "identity",
        "subject_totals",
        "live_balance",
    }
    (alice_row,) = found["account_balance"].details
    assert (alice_row["account_no"], alice_row["problem"]) == (
        alice.account_no,
        "closing 381.0000 != opening 0.0000 +380.0000 turnover",
    )
    problems = {d["account_no"]: d["problem"] for d in found["last_entry"].details}
    assert problems == {
        alice.account_no: f"closing 381.0000 != balance after 380.0000 of entry {entry(p3, alice).serial_no}",
        bob.account_no: "2 entries but missing from the balance sheet",
    }
    assert CheckResult.objects.filter(entity=entity, accounting_date=NOV2).count() == len(ALL_CHECKS)


def test_details_are_capped_but_every_failure_is_counted(ledger):
    open_books_on(ledger.entity, NOV2)
    wallets = [ledger.cash() for _ in range(DETAILS_CAP + 20)]
    # 120 balances that no entry explains
    forge("UPDATE accounts_account SET balance = 1 WHERE id = ANY(%s)", [[w.pk for w in wallets]])
    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    live = checks(ledger.entity, NOV2)["live_balance"]
    assert not live.passed
    assert len(live.details) == DETAILS_CAP
    assert live.summary == f"{DETAILS_CAP + 20} accounts' balances do not follow from the day's closing"
    assert [d["account_no"] for d in live.details] == [w.account_no for w in wallets[:DETAILS_CAP]]
    assert Account.objects.filter(entity=ledger.entity).count() == live.checked_rows
