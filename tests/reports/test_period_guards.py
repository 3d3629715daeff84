"""What the database refuses around closed periods (reports/sql/periods.sql,
postings/sql/closed_periods.sql), tried as the runtime role: a posting
dated in a closed month, reopening it by moving the calendar's
closed_through back, changing a closed period, a close without a second
person."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection

from postings.models import AccountingCalendar, Posting
from reports.periods.models import AccountingPeriod, PeriodKind, PeriodStatus
from reports.periods.services import period_close_approve, period_close_propose
from reports.vouchers.models import Voucher

from .reporting import staff_user
from .test_period_close import DEC1, NOV30, clerks, close, november  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def refused(run, sql, params=(), *, code: str) -> str:
    with pytest.raises(psycopg.Error) as caught:
        run(sql, params)
    assert caught.value.sqlstate == code, caught.value
    return str(caught.value)


POSTING = (
    "INSERT INTO postings_posting (source_system, request_no, fingerprint, business_type, entity_id, currency,"
    " accounting_date, memo, external_ref, posted_by, created_at) VALUES ('forger', %s, 'x', 'adjustment', %s,"
    " 'CNY', %s, '', '', 'forger', now())"
)


@pytest.fixture
def closed_november(ledger, november, clerks):  # noqa: F811
    return close(ledger.entity, PeriodKind.MONTH, NOV30, clerks)


def test_a_posting_dated_in_a_closed_month_is_refused(closed_november, ledger, runtime_sql):
    message = refused(runtime_sql, POSTING, ("forged-1", ledger.entity.pk, NOV30), code="23514")
    assert "closed period (closed through 2026-11-30)" in message
    refused(runtime_sql, POSTING, ("forged-2", ledger.entity.pk, "2026-11-02"), code="23514")
    # On the open day the guard lets it through (and the posting is refused at COMMIT for its lack of entries).
    message = refused(runtime_sql, POSTING, ("forged-3", ledger.entity.pk, DEC1), code="23514")
    assert "fewer than two entries" in message
    assert not Posting.objects.filter(source_system="forger").exists()


def test_a_closed_month_cannot_be_reopened_by_hand(closed_november, ledger, runtime_sql):
    entity = ledger.entity.pk
    set_through = "UPDATE postings_accountingcalendar SET closed_through = %s WHERE entity_id = %s"
    assert "never reopened" in refused(runtime_sql, set_through, (None, entity), code="23001")
    refused(runtime_sql, set_through, ("2026-10-31", entity), code="23001")
    # Forward, but not to the end of a closed month.
    assert "not the last day of a closed month" in refused(
        runtime_sql, set_through, ("2026-12-31", entity), code="23001"
    )
    refused(
        runtime_sql,
        "UPDATE reports_accountingperiod SET status = 'open' WHERE id = %s",
        (closed_november.pk,),
        code="23001",
    )
    refused(runtime_sql, "DELETE FROM reports_periodclosingposting", code="23001")
    assert AccountingCalendar.objects.get(entity=ledger.entity).closed_through == NOV30
    assert AccountingPeriod.objects.get(pk=closed_november.pk).status == PeriodStatus.CLOSED


def test_a_close_needs_a_second_person(ledger, november, clerks, runtime_sql):  # noqa: F811
    maker, _ = clerks
    period = AccountingPeriod.objects.create(
        entity=ledger.entity, kind="month", start_date="2026-11-01", end_date=NOV30
    )
    refused(
        runtime_sql,
        "UPDATE reports_accountingperiod SET status = 'closed', proposed_by_id = %s, approved_by_id = %s,"
        " closed_at = now() WHERE id = %s",
        (maker.pk, maker.pk, period.pk),
        code="23514",
    )
    refused(
        runtime_sql,
        "UPDATE reports_accountingperiod SET status = 'closed', closed_at = now() WHERE id = %s",
        (period.pk,),
        code="23514",
    )
    assert AccountingCalendar.objects.get(entity=ledger.entity).closed_through is None


def test_two_approvals_at_once_post_the_carry_forward_once(ledger, november, clerks):  # noqa: F811
    """Two checkers press approve together: the period row's lock lets one
    close it; the other then finds it closed and changes nothing."""
    maker, checker = clerks
    other = staff_user("checker2", "Finance staff")
    period = period_close_propose(acting_user=maker, entity=ledger.entity, kind="month", day=NOV30)
    start, results, errors = threading.Barrier(2), [], []

    def approve(user_id):
        try:
            start.wait(30)
            results.append(period_close_approve(acting_user=User.objects.get(pk=user_id), period_id=period.pk))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u.pk,)) for u in (checker, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert [r.status for r in results] == [PeriodStatus.CLOSED, PeriodStatus.CLOSED]
    assert Posting.objects.filter(business_type="pl_carry_forward").count() == 1
    assert Voucher.objects.filter(group_key__startswith="close:").count() == 1
    assert AccountingPeriod.objects.get(pk=period.pk).approved_by_id in (checker.pk, other.pk)
