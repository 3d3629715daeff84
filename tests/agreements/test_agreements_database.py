"""What the database refuses about agreement debits
(postings/agreements/sql/agreements.sql), forged as the runtime role with
the posting functions and plain statements, as a compromised process could:
an agreement_debit posting no agreement names, one under a suspended
agreement, one past the period's limit, an attempt that misstates its
posting; an agreement's terms or status changed behind its history; history
and attempts edited."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from postings.agreements.models import Agreement, AgreementEvent, DebitAttempt
from postings.agreements.services import agreement_suspend
from postings.models import Posting

from .books import sign

pytestmark = pytest.mark.django_db(transaction=True)

# Named arguments: parameters added to ledger_post later (with defaults) leave this call as it is.
POST = (
    "SELECT o_serial_no, o_accounting_date FROM ledger_post(p_source => 'forger', p_request_no => %s,"
    " p_fingerprint => 'x', p_business_type => 'agreement_debit', p_currency => NULL, p_memo => '',"
    " p_external_ref => '', p_posted_by => 'forger', p_account_nos => %s::text[], p_directions => %s::text[],"
    " p_amounts => %s::numeric[], p_too_coarse => '{}'::text[], p_rule_version => NULL)"
)


def forge_debit(run, m, amount, request_no, *, attempt=True, taken=None, period=None, payee=None):
    """A whole agreement debit written by hand in one transaction: the
    posting (ledger_post), a settled hold on the payer with its settle event,
    and (``attempt``) the attempt naming them."""
    payee = payee or m.payee
    with run.connection.transaction(), run.connection.cursor() as cursor:
        cursor.execute(POST, [request_no, [m.payer.account_no, payee.account_no], ["D", "C"], [amount, amount]])
        serial_no, day = cursor.fetchone()
        if not attempt:
            return
        cursor.execute(
            "INSERT INTO postings_hold (account_id, amount, remaining, status, reason, source_system, request_no,"
            " fingerprint, created_by, created_at, updated_at)"
            " VALUES (%s, %s, 0, 'settled', 'forged', 'forger', %s, 'x', 'forger', now(), now()) RETURNING id",
            [m.payer.pk, amount, f"h-{request_no}"],
        )
        (hold_id,) = cursor.fetchone()
        for kind, posting in (("freeze", None), ("settle", serial_no)):
            cursor.execute(
                "INSERT INTO postings_holdevent (hold_id, kind, amount, posting_id, frozen_before, frozen_after,"
                " source_system, fingerprint, actor, created_at) VALUES (%s, %s, %s, %s, 0, 0, 'forger', '',"
                " 'forger', now())",
                [hold_id, kind, amount, posting],
            )
        cursor.execute(
            "INSERT INTO agreements_debitattempt (agreement_id, source_system, request_no, fingerprint, purpose,"
            " amount_asked, amount_taken, outcome, code, message, hold_id, posting_id, accounting_date,"
            " period_start, actor, created_at)"
            " VALUES (%s, 'forger', %s, 'x', 'p', %s, %s, 'taken', '', '', %s, %s, %s,"
            " coalesce(%s, date_trunc('month', %s::date)::date), 'forger', now())",
            [m.agreement.pk, request_no, taken or amount, taken or amount, hold_id, serial_no, day, period, day],
        )


def refused(call, words):
    with pytest.raises(psycopg.Error) as caught:
        call()
    assert words in str(caught.value), caught.value


def test_an_agreement_debit_no_agreement_names_is_refused_at_commit(runtime_sql, ledger):
    m = sign(ledger)
    refused(lambda: forge_debit(runtime_sql, m, "10.00", "bare", attempt=False), "no_agreement: posting")
    assert not Posting.objects.filter(business_type="agreement_debit").exists()
    assert ledger.balance(m.payer) == Decimal("1000.00")


def test_a_forged_debit_within_an_active_agreement_commits(runtime_sql, ledger):
    """The forgery helper itself is sound: the same rows within the limits commit."""
    m = sign(ledger)
    forge_debit(runtime_sql, m, "10.00", "fine")
    assert ledger.balance(m.payer) == Decimal("990.00")
    assert DebitAttempt.objects.get(request_no="fine").posting.business_type == "agreement_debit"


def test_limits_per_debit_and_per_period_hold_in_the_database(runtime_sql, ledger):
    m = sign(ledger, max_per_debit="300.00", max_per_period="500.00")
    m.debit("300.00", "real")
    refused(lambda: forge_debit(runtime_sql, m, "300.01", "big"), "agreement_limit_exceeded: posting")
    refused(lambda: forge_debit(runtime_sql, m, "200.01", "over"), "agreement_limit_exceeded: agreement")
    forge_debit(runtime_sql, m, "200.00", "up-to")
    assert ledger.balance(m.payer) == Decimal("500.00")


def test_a_suspended_agreement_covers_nothing_even_by_hand(runtime_sql, ledger):
    m = sign(ledger)
    agreement_suspend(agreement_id=m.agreement.pk, reason="member asked", request_no="s", actor="app")
    refused(lambda: forge_debit(runtime_sql, m, "10.00", "while-suspended"), "which is suspended")


def test_an_attempt_states_its_posting_truly(runtime_sql, ledger):
    m = sign(ledger)
    refused(lambda: forge_debit(runtime_sql, m, "10.00", "lie", taken="5.00"), "says 5.0000 taken")
    refused(lambda: forge_debit(runtime_sql, m, "10.00", "old-period", period="2000-01-01"), "period from 2000-01-01")
    refused(lambda: forge_debit(runtime_sql, m, "10.00", "elsewhere", payee=ledger.cash()), "other accounts than")


def test_terms_status_history_and_attempts_are_kept(runtime_sql, ledger):
    m = sign(ledger)
    m.debit("10.00", "d")
    pk = m.agreement.pk
    refused(
        lambda: runtime_sql("UPDATE agreements_agreement SET max_per_period = 99999 WHERE id = %s", [pk]), "is fixed"
    )
    refused(
        lambda: runtime_sql("UPDATE agreements_agreement SET status = 'suspended' WHERE id = %s", [pk]),
        "its last history row leaves it active",
    )
    refused(
        lambda: runtime_sql(
            "INSERT INTO agreements_agreementevent (agreement_id, kind, from_status, to_status, reason,"
            " source_system, fingerprint, actor, created_at) VALUES (%s, 'revoke', 'active', 'revoked', ' ',"
            " 'forger', '', 'forger', now())",
            [pk],
        ),
        "needs a reason",
    )
    refused(lambda: runtime_sql("DELETE FROM agreements_agreementevent WHERE agreement_id = %s", [pk]), "Cannot")
    refused(lambda: runtime_sql("UPDATE agreements_debitattempt SET amount_taken = 0"), "Cannot update")
    refused(lambda: runtime_sql("DELETE FROM agreements_agreement WHERE id = %s", [pk]), "Cannot delete")
    assert Agreement.objects.get(pk=pk).status == "active"
    assert AgreementEvent.objects.filter(agreement_id=pk).count() == 1
