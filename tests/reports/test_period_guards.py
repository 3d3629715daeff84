"""What the database refuses around closed periods (reports/sql/periods.sql,
postings/sql/closed_periods.sql), tried as the runtime role: a posting
dated in a closed month, reopening it by moving the calendar's
closed_through back, changing a closed period, a close without a second
person."""

from __future__ import annotations

import psycopg
import pytest

from postings.models import AccountingCalendar, Posting
from reports.periods.models import AccountingPeriod, PeriodKind, PeriodStatus

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
