"""Matching a channel's statement with the ledger (渠道对账), worked through two
days of the sample payment company (signed amounts, positive = in).

Day D. The ledger (entries on the channel's clearing account, each posting
carrying the channel's serial number) and the statement:

=======  =====================  ===================  ==========================
serial   ledger                 statement            outcome
=======  =====================  ===================  ==========================
A        recharge 100.00 (in)   +100.00  fee 0.38    matched
B        payout   500.00 (out)  -500.00  fee 1.00    matched
C        -                      +30.00   fee 0.12    long (长款)
E        recharge  40.00        +45.00   fee 0.17    amount mismatch (+5.00)
F        recharge  60.00        -                    short (短款): posted early
G        recharge  70.00        - (on D+1: +70.00)   pending, matched late on D+1
H        recharge  80.00        -                    pending; short after D+1
J        - (booked on D+1)      +15.00   fee 0.06    long, matched late on D+1
X        -                      +20.00   closed      not counted (status 关闭)
=======  =====================  ===================  ==========================

G and H are posted within the channel's 30-minute window before the day's
cut, A..F before it. Expected fees: 0.38 % of money in, 1.00 per payout:
0.38 + 1.00 + 0.11 + 0.17 + 0.06 = 1.72; the channel charged 1.73.

Day D+1: I recharge 10.00 in both (matched); the statement brings G
(+70.00), the ledger J (15.00): both resolve day D's differences as matched
late. H has waited CHANNEL_RECON_PENDING_DAYS (1) and becomes short.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from postings.models import AccountingCalendar
from postings.services.calendar import day_cut
from reports.channel.exceptions import StatementMissing
from reports.channel.importing import statement_import
from reports.channel.matching import channel_recon_run
from reports.channel.models import Difference, DifferenceEvent, ReconRun
from reports.channel.selectors import SUMMARY_FIELDS, recon_summary

from .eod_books import open_books_on
from .recon_books import D, epay_file, payout, recharge, sample_channel

pytestmark = pytest.mark.django_db(transaction=True)
WINDOW = timedelta(minutes=30)


def differences():
    return {
        d.serial_no: (d.recon_date, d.outcome, d.status, d.resolution, d.channel_amount, d.ledger_amount, d.difference)
        for d in Difference.objects.all()
    }


def snapshot():
    return (
        sorted(
            Difference.objects.values_list(
                "id",
                "channel_id",
                "recon_date",
                "outcome",
                "status",
                "resolution",
                "serial_no",
                "statement_line_id",
                "entry_id",
                "posting_id",
                "channel_direction",
                "channel_amount",
                "ledger_direction",
                "ledger_amount",
                "difference",
                "resolved_at",
                "resolved_by",
            )
        ),
        sorted(
            DifferenceEvent.objects.values_list(
                "id", "difference_id", "kind", "from_value", "to_value", "actor", "created_at"
            )
        ),
        sorted(ReconRun.objects.values_list("channel_id", "recon_date", *SUMMARY_FIELDS)),
    )


NOON_MARGIN = timedelta(seconds=30)


def database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def summary(channel, day):
    s = recon_summary(ReconRun.objects.get(channel=channel, recon_date=day))
    return {k: v for k, v in s.items() if v not in (0, "0.00") and k not in ("channel", "recon_date")}


def test_a_day_with_every_outcome_and_the_late_arrivals_next_day(ledger, settings):
    settings.CHANNEL_RECON_PENDING_DAYS = 1
    # Day D is the day whose cut falls 30 minutes from now (the cut time is set
    # to the second below, once the postings' times are known). "Now" by
    # PostgreSQL's clock, which stamps the postings (Python's may travel); and
    # not in the seconds before a noon cut, which the postings would straddle.
    cut_guess = timezone.localtime(database_now() + WINDOW)
    while timedelta(0) < cut_guess.replace(hour=12, minute=0, second=0, microsecond=0) - cut_guess < NOON_MARGIN:
        time.sleep(0.1)
        cut_guess = timezone.localtime(database_now() + WINDOW)
    day = cut_guess.date() if cut_guess.hour >= 12 else cut_guess.date() - timedelta(days=1)
    open_books_on(ledger.entity, day)
    channel = sample_channel("epaysim", clearing=ledger.channel())
    wallet = ledger.cash()

    recharge(ledger, wallet, "1000", "SEED")  # funds the payout; in no statement: made short below on purpose
    recharge(ledger, wallet, "100.00", "A")
    payout(ledger, wallet, "500.00", "B")
    recharge(ledger, wallet, "40.00", "E")
    early = recharge(ledger, wallet, "60.00", "F")
    time.sleep(0.05)  # the time passing is the point: F and G get created_at (PostgreSQL's now()) apart
    late = recharge(ledger, wallet, "70.00", "G")
    recharge(ledger, wallet, "80.00", "H")
    cut = early.created_at + (late.created_at - early.created_at) / 2 + WINDOW
    AccountingCalendar.objects.filter(entity=ledger.entity).update(cut_time=timezone.localtime(cut).time())
    assert AccountingCalendar.objects.get(entity=ledger.entity).cut_moment(day) == cut, "ran across noon/midnight"

    statement_import(
        channel=channel,
        statement_date=day,
        file_name="d.csv",
        imported_by="finance",
        content=epay_file(
            day,
            [
                ("A", "100.00", "0.38"),
                ("B", "-500.00", "1.00"),
                ("C", "30.00", "0.12"),
                ("E", "45.00", "0.17"),
                ("J", "15.00", "0.06"),
                ("X", "20.00", "0.00", "关闭"),
            ],
        ),
    )
    channel_recon_run(channel=channel, recon_date=day)

    assert differences() == {
        "C": (day, "long", "open", "", D("30"), None, D("30")),
        "E": (day, "amount_mismatch", "open", "", D("45"), D("40"), D("5")),
        "SEED": (day, "short", "open", "", None, D("1000"), D("-1000")),
        "F": (day, "short", "open", "", None, D("60"), D("-60")),
        "G": (day, "pending", "open", "", None, D("70"), D("-70")),
        "H": (day, "pending", "open", "", None, D("80"), D("-80")),
        "J": (day, "long", "open", "", D("15"), None, D("15")),
    }
    assert summary(channel, day) == {
        "channel_count": 5,
        "channel_in": "190.00",
        "channel_out": "500.00",
        "channel_skipped_count": 1,
        "ledger_count": 7,
        "ledger_in": "1350.00",
        "ledger_out": "500.00",
        "fee_charged": "1.73",
        "fee_expected": "1.72",
        "matched_count": 2,
        "matched_amount": "600.00",
        "long_count": 2,
        "long_amount": "45.00",
        "short_count": 2,
        "short_amount": "1060.00",
        "mismatch_count": 1,
        "mismatch_amount": "5.00",
        "pending_count": 2,
        "pending_amount": "150.00",
    }
    first = snapshot()
    channel_recon_run(channel=channel, recon_date=day)
    assert snapshot() == first  # re-running changes nothing

    # Day D+1.
    day_cut(entity=ledger.entity, day=day)
    nxt = day + timedelta(days=1)
    recharge(ledger, wallet, "10.00", "I")
    recharge(ledger, wallet, "15.00", "J")
    statement_import(
        channel=channel,
        statement_date=nxt,
        file_name="d1.csv",
        imported_by="finance",
        content=epay_file(nxt, [("G", "70.00", "0.27"), ("I", "10.00", "0.04")]),
    )
    with pytest.raises(StatementMissing):
        channel_recon_run(channel=channel, recon_date=nxt + timedelta(days=1))
    channel_recon_run(channel=channel, recon_date=nxt)

    found = differences()
    assert found["G"] == (day, "pending", "resolved", "matched_late", D("70"), D("70"), D("0"))
    assert found["J"] == (day, "long", "resolved", "matched_late", D("15"), D("15"), D("0"))
    assert found["H"] == (day, "short", "open", "", None, D("80"), D("-80"))
    assert {k: v[1:4] for k, v in found.items() if k not in "GJH"} == {
        "C": ("long", "open", ""),
        "E": ("amount_mismatch", "open", ""),
        "SEED": ("short", "open", ""),
        "F": ("short", "open", ""),
    }
    assert summary(channel, nxt) == {
        "channel_count": 2,
        "channel_in": "80.00",
        "fee_charged": "0.31",
        "fee_expected": "0.31",
        "ledger_count": 2,
        "ledger_in": "25.00",
        "matched_count": 1,
        "matched_amount": "10.00",
        "late_matched_count": 2,
        "late_matched_amount": "85.00",
    }
    # Day D's summary now shows H short; G stays counted as pending (resolved, matched late).
    d = summary(channel, day)
    assert (d["short_count"], d["short_amount"], d["pending_count"], d["pending_amount"]) == (3, "1140.00", 1, "70.00")
    history = list(Difference.objects.get(serial_no="H").events.values_list("kind", "from_value", "to_value"))
    assert history == [("found", "", "pending"), ("outcome", "pending", "short")]
    history = list(Difference.objects.get(serial_no="G").events.values_list("kind", "to_value", "note"))
    assert history == [("found", "pending", ""), ("resolved", "matched_late", f"arrived in statement {nxt} line 6")]

    second = snapshot()
    channel_recon_run(channel=channel, recon_date=nxt)
    channel_recon_run(channel=channel, recon_date=day)
    assert snapshot() == second  # either day again: nothing changes
    assert ReconRun.objects.get(channel=channel, recon_date=day).runs == 3


def test_a_record_booked_after_its_cut_waits_pending_then_is_short_and_still_matches_late(ledger, settings):
    settings.CHANNEL_RECON_PENDING_DAYS = 3
    day = timezone.localdate() - timedelta(days=5)
    open_books_on(ledger.entity, day)
    channel = sample_channel("epaysim", clearing=ledger.channel())
    channel.pending_window_minutes = 0
    channel.save()
    wallet = ledger.cash()
    recharge(ledger, wallet, "12.00", "K")  # booked on a day whose cut has passed: pending
    statement_import(
        channel=channel, statement_date=day, file_name="k.csv", imported_by="finance", content=epay_file(day, [])
    )
    run = channel_recon_run(channel=channel, recon_date=day)
    assert (run.pending_count, run.channel_count, run.ledger_count) == (1, 0, 1)
    # The statements of the next days do not have it; after three days it is short ...
    for n in (1, 2, 3):
        other = day + timedelta(days=n)
        statement_import(
            channel=channel,
            statement_date=other,
            file_name=f"{n}.csv",
            imported_by="finance",
            content=epay_file(other, []),
        )
        channel_recon_run(channel=channel, recon_date=other)
        assert Difference.objects.get(serial_no="K").outcome == ("short" if n == 3 else "pending")
    # ... and when it finally arrives, it is matched late all the same.
    last = day + timedelta(days=4)
    statement_import(
        channel=channel,
        statement_date=last,
        file_name="4.csv",
        imported_by="finance",
        content=epay_file(last, [("K", "12.00", "0.05")]),
    )
    run = channel_recon_run(channel=channel, recon_date=last)
    k = Difference.objects.get(serial_no="K")
    assert (k.outcome, k.status, k.resolution) == ("short", "resolved", "matched_late")
    assert (run.late_matched_count, run.long_count) == (1, 0)


def run_in_future(ledger):
    """A day whose cut is days away: every record posted now is short, not pending, when missing."""
    day = timezone.localdate() + timedelta(days=3)
    open_books_on(ledger.entity, day)
    return day, sample_channel("epaysim", clearing=ledger.channel()), ledger.cash()


def test_pairing_within_a_serial_the_same_amount_first_then_the_lowest_entry(ledger):
    day, channel, wallet = run_in_future(ledger)
    recharge(ledger, wallet, "1000", "SEED")
    first_p = recharge(ledger, wallet, "50.00", "P")  # booked twice; the statement has the second amount
    second_p = recharge(ledger, wallet, "60.00", "P")
    first_q = recharge(ledger, wallet, "10.00", "Q")  # neither amount agrees: the first entry is the pair
    second_q = recharge(ledger, wallet, "20.00", "Q")
    payout(ledger, wallet, "40.00", "R")  # out in the ledger, in on the statement
    nameless = payout(ledger, wallet, "5.00", "")  # no serial: never paired
    statement_import(
        channel=channel,
        statement_date=day,
        file_name="p.csv",
        imported_by="finance",
        content=epay_file(day, [("P", "60.00", "0.23"), ("Q", "30.00", "0.11"), ("R", "40.00", "0.15")]),
    )
    run = channel_recon_run(channel=channel, recon_date=day)

    def entry(posting):
        return posting.entries.get(account=ledger.channel()).pk

    found = {
        (d.serial_no, d.entry_id): (d.outcome, d.channel_amount, d.ledger_amount, d.difference)
        for d in Difference.objects.all()
    }
    seed = Difference.objects.get(serial_no="SEED").entry_id
    assert found == {
        ("SEED", seed): ("short", None, D("1000"), D("-1000")),
        ("P", entry(first_p)): ("short", None, D("50"), D("-50")),
        ("Q", entry(first_q)): ("amount_mismatch", D("30"), D("10"), D("20")),
        ("Q", entry(second_q)): ("short", None, D("20"), D("-20")),
        ("R", Difference.objects.get(serial_no="R").entry_id): ("amount_mismatch", D("40"), D("40"), D("80")),
        ("", entry(nameless)): ("short", None, D("5"), D("5")),  # money out we booked and the channel did not
    }
    assert entry(second_p) not in {d.entry_id for d in Difference.objects.all()}
    assert (run.matched_count, run.matched_amount, run.mismatch_count, run.short_count) == (1, D("60"), 2, 4)


def test_a_posting_reversed_on_its_own_day_nets_to_nothing(ledger):
    """A payout booked and reversed the same day (the bank refused it) carries
    one serial twice, out and in: the channel moved nothing, so neither is a
    difference. A reversal on a later day is a record of that day like any other."""
    from postings.services import posting_reverse

    day, channel, wallet = run_in_future(ledger)
    recharge(ledger, wallet, "500.00", "SEED")
    refused = payout(ledger, wallet, "300.00", "X")
    posting_reverse(serial_no=refused.pk, request_no="rev-X", posted_by="test")
    rebooked = payout(ledger, wallet, "310.00", "Y")  # booked, reversed, booked again with the right amount
    posting_reverse(serial_no=rebooked.pk, request_no="rev-Y", posted_by="test")
    payout(ledger, wallet, "301.00", "Y")
    statement_import(
        channel=channel,
        statement_date=day,
        file_name="r.csv",
        imported_by="finance",
        content=epay_file(day, [("SEED", "500.00", "1.90"), ("Y", "-301.00", "1.00")]),
    )
    run = channel_recon_run(channel=channel, recon_date=day)
    assert not Difference.objects.exists()
    assert (run.matched_count, run.ledger_count, run.ledger_in, run.ledger_out) == (2, 2, D("500"), D("301"))


def test_an_exact_record_booked_later_leaves_the_mismatched_one_short(ledger):
    """The channel collected 100.00 for M; we booked 90.00, then (still that day)
    the right 100.00. The line and the 100.00 agree; the 90.00 is money the
    channel never moved: the difference becomes that short, not resolved."""
    day, channel, wallet = run_in_future(ledger)
    wrong = recharge(ledger, wallet, "90.00", "M")
    statement_import(
        channel=channel,
        statement_date=day,
        file_name="m.csv",
        imported_by="finance",
        content=epay_file(day, [("M", "100.00", "0.38")]),
    )
    channel_recon_run(channel=channel, recon_date=day)
    diff = Difference.objects.get()
    assert (diff.outcome, diff.difference) == ("amount_mismatch", D("10"))

    right = recharge(ledger, wallet, "100.00", "M")
    run = channel_recon_run(channel=channel, recon_date=day)
    diff.refresh_from_db()
    wrong_entry = wrong.entries.get(account=ledger.channel())
    assert (diff.outcome, diff.status, diff.statement_line_id, diff.entry_id, diff.difference) == (
        "short",
        "open",
        None,
        wrong_entry.pk,
        D("-90"),
    )
    assert Difference.objects.count() == 1
    right_entry = right.entries.get(account=ledger.channel())
    assert list(diff.events.values_list("kind", "from_value", "to_value", "note"))[-1] == (
        "outcome",
        "amount_mismatch",
        "short",
        f"statement line 6 agrees with entry E{right_entry.pk}; entry E{wrong_entry.pk} has no line",
    )
    assert (run.matched_count, run.matched_amount, run.mismatch_count, run.short_count, run.short_amount) == (
        1,
        D("100"),
        0,
        1,
        D("90"),
    )
    before = snapshot()
    channel_recon_run(channel=channel, recon_date=day)
    assert snapshot() == before


def test_a_record_booked_later_the_same_day_resolves_the_long_line_on_a_rerun(ledger):
    day, channel, wallet = run_in_future(ledger)
    statement_import(
        channel=channel,
        statement_date=day,
        file_name="l.csv",
        imported_by="finance",
        content=epay_file(day, [("L", "25.00", "0.10")]),
    )
    run = channel_recon_run(channel=channel, recon_date=day)
    assert (run.long_count, run.matched_count) == (1, 0)
    posting = recharge(ledger, wallet, "25.00", "L")  # the day is still open: booked after the first run
    run = channel_recon_run(channel=channel, recon_date=day)
    diff = Difference.objects.get(serial_no="L")
    entry = posting.entries.get(account=ledger.channel())
    assert (diff.outcome, diff.status, diff.resolution, diff.entry_id, diff.difference) == (
        "long",
        "resolved",
        "matched_late",
        entry.pk,
        D("0"),
    )
    assert list(diff.events.values_list("kind", "note")) == [
        ("found", ""),
        ("resolved", f"statement line 6 and entry E{entry.pk} agree"),
    ]
    assert (run.matched_count, run.long_count, run.ledger_count) == (1, 1, 1)  # counted on its day, resolved
    before = snapshot()
    channel_recon_run(channel=channel, recon_date=day)
    assert snapshot() == before


def test_chunks_of_the_pairing_change_nothing(ledger, settings, monkeypatch):
    """The pairing's rows are handled a chunk at a time, each chunk's writes
    flushed before the next chunk looks for earlier days' differences. Three
    random days, run in a shuffled order, each run done both ways (the usual
    chunk, a chunk of one row) and compared."""
    import random

    from reports.channel import matching as channel_recon

    settings.CHANNEL_RECON_PENDING_DAYS = 1
    rnd = random.Random(1)
    today = timezone.localdate()
    days = [today - timedelta(days=2), today - timedelta(days=1), today + timedelta(days=3)]  # pending, pending, short
    channel = sample_channel("epaysim", clearing=ledger.channel())
    wallet = ledger.cash()
    open_books_on(ledger.entity, days[0])
    recharge(ledger, wallet, "100000", "SEED")
    serials = [f"S{i}" for i in range(8)]
    for n, day in enumerate(days):
        open_books_on(ledger.entity, day)
        for _ in range(12):
            book = rnd.choice([recharge, recharge, payout])
            book(ledger, wallet, rnd.choice(["10.00", "20.00"]), rnd.choice(serials + ([""] if book is payout else [])))
        rows = [
            (
                s,
                ("-" if rnd.random() < 0.3 else "") + rnd.choice(["10.00", "20.00"]),
                "0.10",
                "关闭" if rnd.random() < 0.1 else "成功",
            )
            for s in rnd.sample(serials, rnd.randint(2, 8))
        ]
        statement_import(
            channel=channel,
            statement_date=day,
            file_name=f"{n}.csv",
            imported_by="finance",
            content=epay_file(day, rows),
        )

    def outcome():
        return (
            sorted(
                Difference.objects.values_list(
                    "recon_date",
                    "outcome",
                    "status",
                    "resolution",
                    "serial_no",
                    "statement_line_id",
                    "entry_id",
                    "channel_amount",
                    "ledger_amount",
                    "difference",
                ),
                key=str,
            ),
            sorted(
                (
                    (e.difference.statement_line_id, e.difference.entry_id, e.kind, e.from_value, e.to_value, e.note)
                    for e in DifferenceEvent.objects.select_related("difference")
                ),
                key=str,
            ),
            sorted(ReconRun.objects.values_list("recon_date", *SUMMARY_FIELDS)),
        )

    class Undo(Exception):
        pass

    for day in [days[0], days[2], days[1], days[2], days[0]]:
        try:
            with transaction.atomic():
                channel_recon_run(channel=channel, recon_date=day)
                usual = outcome()
                raise Undo
        except Undo:
            pass
        monkeypatch.setattr(channel_recon, "CHUNK", 1)
        channel_recon_run(channel=channel, recon_date=day)
        monkeypatch.undo()
        assert outcome() == usual
    # What was exercised: every outcome found, late matches both ways, pending aged to short.
    events = set(DifferenceEvent.objects.values_list("kind", "to_value"))
    assert {("found", o) for o in ("long", "short", "pending", "amount_mismatch")} <= events
    assert {("resolved", "matched_late"), ("outcome", "short"), ("outcome", "amount_mismatch")} <= events
