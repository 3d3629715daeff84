"""The day cut (日切): postings after it belong to the next day, a cut day
takes no postings, corrections name the day they correct, the cut time need
not be midnight, and a posting in flight at the cut lands in exactly one day."""

import threading
import time as clock
from datetime import date, datetime, time

import pytest
from django.db import connection
from django.utils import timezone

from postings.exceptions import DayClosed
from postings.models import AccountingDay, DayStatus, Entry, Posting
from postings.services import Leg, posting_create, posting_reverse
from postings.services.calendar import cuts_due, day_cut
from reports.eod.models import DailyBalance, EodRun, RunStatus
from reports.eod.services import eod_run, eod_run_due

from .eod_books import D, open_books_on, open_date, post, sheet

NOV2, NOV3, NOV4, NOV5 = (date(2026, 11, d) for d in (2, 3, 4, 5))


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hh, mm)))


@pytest.mark.django_db
def test_a_posting_after_the_cut_lands_on_the_next_day(ledger):
    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    before = post("recharge", member_account=wallet, channel_account=channel, amount="100")
    day_cut(entity=ledger.entity, day=NOV2)
    after = post("recharge", member_account=wallet, channel_account=channel, amount="7")
    assert (before.accounting_date, after.accounting_date) == (NOV2, NOV3)
    assert set(Entry.objects.filter(posting=after).values_list("accounting_date", flat=True)) == {NOV3}
    assert AccountingDay.objects.get(entity=ledger.entity, date=NOV2).status == DayStatus.CLOSING

    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    assert sheet(ledger.entity, NOV2)[wallet.account_no] == (D("0"), D("0"), D("100"), D("100"), 1)


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["closing", "closed"])
def test_a_posting_dated_on_a_cut_day_is_refused(ledger, status):
    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    if status == "closing":
        day_cut(entity=ledger.entity, day=NOV2)
    else:
        eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    assert AccountingDay.objects.get(entity=ledger.entity, date=NOV2).status == status
    postings = Posting.objects.count()
    with pytest.raises(DayClosed) as refused:
        posting_create(
            request_no="late-1",
            business_type="adjustment",
            posted_by="finance",
            accounting_date=NOV2,
            legs=[Leg.debit(channel.account_no, "1"), Leg.credit(wallet.account_no, "1")],
        )
    assert refused.value.code == "day_closed"
    assert refused.value.fields == {"accounting_date": NOV2, "open_date": NOV3}
    assert Posting.objects.count() == postings


@pytest.mark.django_db
def test_a_posting_dated_before_the_first_closed_day_is_refused(ledger):
    # The ledger went live on Nov 3: Nov 2 never had a calendar day, and the
    # first end of day opened Nov 3 from zero. A posting on Nov 2 now would
    # make Nov 3's openings wrong, so it is refused like one on a closed day.
    open_books_on(ledger.entity, NOV3)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    eod_run(entity=ledger.entity, accounting_date=NOV3, actor="ops")
    assert not AccountingDay.objects.filter(entity=ledger.entity, date=NOV2).exists()
    postings, balance = Posting.objects.count(), wallet.__class__.objects.get(pk=wallet.pk).balance
    with pytest.raises(DayClosed) as refused:
        posting_create(
            request_no="late-0",
            business_type="adjustment",
            posted_by="finance",
            accounting_date=NOV2,
            legs=[Leg.debit(channel.account_no, "1"), Leg.credit(wallet.account_no, "1")],
        )
    assert "2026-11-02" in str(refused.value) and "before 2026-11-03, which is closed" in str(refused.value)
    assert refused.value.fields == {"accounting_date": NOV2, "open_date": NOV4}
    assert Posting.objects.count() == postings
    assert wallet.__class__.objects.get(pk=wallet.pk).balance == balance


@pytest.mark.django_db
def test_a_back_dated_posting_before_any_end_of_day_is_still_taken(ledger):
    # Before the first end of day nothing has been carried forward: loading
    # history (the demo, a migration) posts on past days.
    open_books_on(ledger.entity, NOV3)
    wallet, channel = ledger.cash(), ledger.channel()
    late = posting_create(
        request_no="history-1",
        business_type="adjustment",
        posted_by="finance",
        accounting_date=NOV2,
        legs=[Leg.debit(channel.account_no, "5"), Leg.credit(wallet.account_no, "5")],
    )
    assert late.accounting_date == NOV2


@pytest.mark.django_db
def test_a_correction_after_the_close_is_posted_on_the_open_day_and_names_the_day(ledger):
    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    wrong = post("recharge", member_account=wallet, channel_account=channel, amount="1000")
    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")

    reversal = posting_reverse(serial_no=wrong.serial_no, request_no="fix-1", posted_by="finance")
    adjust = posting_create(
        request_no="fix-2",
        business_type="adjustment",
        posted_by="finance",
        corrects_date=NOV2,
        legs=[Leg.debit(channel.account_no, "100"), Leg.credit(wallet.account_no, "100")],
    )
    assert (reversal.accounting_date, reversal.corrects_date) == (NOV3, NOV2)
    assert (adjust.accounting_date, adjust.corrects_date) == (NOV3, NOV2)

    eod_run(entity=ledger.entity, accounting_date=NOV3, actor="ops")
    # Nov 2 stays as it was closed; the correction is Nov 3's turnover.
    assert sheet(ledger.entity, NOV2)[wallet.account_no] == (D("0"), D("0"), D("1000"), D("1000"), 1)
    assert sheet(ledger.entity, NOV3)[wallet.account_no] == (D("1000"), D("1000"), D("100"), D("100"), 2)


@pytest.mark.django_db
def test_a_cut_time_that_is_not_midnight_decides_when_the_beat_cuts(ledger):
    """Cut at 23:00: the beat at 22:55 does nothing; at 23:05 it cuts Nov 2
    and closes it, and later postings belong to Nov 3."""
    open_books_on(ledger.entity, NOV2, cut_time=time(23, 0))
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")

    assert cuts_due(now=local(NOV2, 22, 55)) == []
    assert eod_run_due(now=local(NOV2, 22, 55)) == []
    assert open_date(ledger.entity) == NOV2 and not EodRun.objects.exists()

    assert cuts_due(now=local(NOV2, 23, 5)) == [(ledger.entity, NOV2)]
    (run,) = eod_run_due(now=local(NOV2, 23, 5))
    assert (run.accounting_date, run.status) == (NOV2, RunStatus.DONE)
    assert open_date(ledger.entity) == NOV3
    assert post("recharge", member_account=wallet, channel_account=channel, amount="1").accounting_date == NOV3
    assert eod_run_due(now=local(NOV2, 23, 10)) == []  # the beat again: nothing due, nothing re-run
    assert EodRun.objects.get().steps.filter(attempts__gt=1).count() == 0


@pytest.mark.django_db
def test_an_early_morning_cut_ends_the_day_the_next_morning(ledger):
    open_books_on(ledger.entity, NOV2, cut_time=time(0, 30))
    assert cuts_due(now=local(NOV3, 0, 29)) == []
    assert cuts_due(now=local(NOV3, 0, 30)) == [(ledger.entity, NOV2)]


@pytest.mark.django_db
def test_the_beat_catches_up_on_days_missed_and_stops_at_a_day_that_fails(ledger, monkeypatch):
    from reports.eod import services

    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    original = services.STEPS["vouchers"]

    def fail_on_nov3(run):
        if run.accounting_date == NOV3:
            raise RuntimeError("GL down")
        return original(run)

    monkeypatch.setitem(services.STEPS, "vouchers", fail_on_nov3)
    # The beat was down; it comes back at 00:05 on Nov 5: Nov 2, 3 and 4 are all due.
    runs = eod_run_due(now=local(NOV5, 0, 5))
    assert [(r.accounting_date, r.status) for r in runs] == [(NOV2, "done"), (NOV3, "failed")]
    assert open_date(ledger.entity) == NOV5  # the cuts happened on time regardless
    assert AccountingDay.objects.get(entity=ledger.entity, date=NOV4).status == DayStatus.CLOSING

    # Retried by the beat a few times, then left for staff.
    for _ in range(services.AUTO_RETRIES - 1):
        assert [r.status for r in eod_run_due(now=local(NOV5, 0, 10))] == ["failed"]
    assert eod_run_due(now=local(NOV5, 0, 15)) == []
    monkeypatch.setitem(services.STEPS, "vouchers", original)
    assert eod_run_due(now=local(NOV5, 0, 20)) == []  # still waiting for a person
    assert eod_run(entity=ledger.entity, accounting_date=NOV3, actor="staff").status == RunStatus.DONE
    assert [(r.accounting_date, r.status) for r in eod_run_due(now=local(NOV5, 0, 25))] == [(NOV4, "done")]


def cut_waits_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE %s",
            ["%postings_accountingcalendar%FOR UPDATE%"],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("commit_first", [True, False], ids=["in-flight-at-the-cut", "started-after-the-cut"])
def test_a_posting_in_flight_at_the_cut_lands_in_exactly_one_day(ledger, commit_first):
    """Thread A posts and holds its transaction open; thread B cuts the day.
    in-flight-at-the-cut: A already holds the calendar share lock, so the cut
    waits for A's commit and A's posting is Nov 2's. started-after-the-cut:
    B cuts first, then A posts and gets Nov 3. Either way the Nov 2 sheet
    contains the posting exactly when its accounting date is Nov 2."""
    from django.db import transaction

    open_books_on(ledger.entity, NOV2)
    wallet, channel = ledger.cash(), ledger.channel()
    post("recharge", member_account=wallet, channel_account=channel, amount="100")
    posted, release, cut_done = threading.Event(), threading.Event(), threading.Event()
    result, errors = {}, []

    def poster():
        try:
            if not commit_first:
                assert cut_done.wait(30)
            with transaction.atomic():
                result["posting"] = posting_create(
                    request_no="in-flight",
                    business_type="transfer",
                    posted_by="trade",
                    legs=[Leg.debit(wallet.account_no, "30"), Leg.credit(channel.account_no, "30")],
                )
                posted.set()
                release.wait(30)  # mid-transaction: entries written, not committed
            result["committed_at"] = clock.monotonic()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            posted.set()
        finally:
            connection.close()

    def cutter():
        try:
            if commit_first:
                assert posted.wait(30)
            day_cut(entity=ledger.entity, day=NOV2)
            result["cut_at"] = clock.monotonic()
            cut_done.set()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poster), threading.Thread(target=cutter)]
    for t in threads:
        t.start()
    if commit_first:
        assert posted.wait(30)
        # Not a fixed sleep: see the cut waiting in PostgreSQL for the calendar
        # row that A's open transaction holds, then check it has not finished.
        deadline = clock.monotonic() + 30
        while not cut_waits_for_a_lock():
            assert clock.monotonic() < deadline, "the cut never waited for the posting in flight"
            clock.sleep(0.01)
        assert threads[1].is_alive(), "the cut must wait for the posting in flight"
        assert "cut_at" not in result
    release.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    posting = Posting.objects.get(request_no="in-flight")
    day = posting.accounting_date
    assert day == (NOV2 if commit_first else NOV3)
    if commit_first:
        assert result["cut_at"] >= result["committed_at"]  # the cut completed only after A's commit
    assert set(Entry.objects.filter(posting=posting).values_list("accounting_date", flat=True)) == {day}
    assert open_date(ledger.entity) == NOV3

    eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    nov2 = sheet(ledger.entity, NOV2)[wallet.account_no]
    in_nov2 = nov2 == (D("0"), D("30"), D("100"), D("70"), 2)
    assert in_nov2 == (day == NOV2)
    if not in_nov2:
        assert nov2 == (D("0"), D("0"), D("100"), D("100"), 1)
        eod_run(entity=ledger.entity, accounting_date=NOV3, actor="ops")
        assert sheet(ledger.entity, NOV3)[wallet.account_no] == (D("100"), D("30"), D("0"), D("70"), 1)
    assert DailyBalance.objects.filter(account=wallet).count() == (1 if in_nov2 else 2)
