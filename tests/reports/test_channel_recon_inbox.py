"""The statement folder (reports/channel/inbox.py): files dropped into
<inbox>/<channel code>/ are imported whole or refused with the reason, moved
to done/ or failed/, claimed first so two scans never import a file twice,
and a claim left by a dead scan is taken over."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from celery import current_app
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from reports import tasks
from reports.channel.importing import statement_import
from reports.channel.inbox import INBOX_ACTOR, statement_date_from_name, statement_inbox_scan
from reports.channel.models import Channel, ReconRun, StatementImport, StatementLine

from .eod_books import open_books_on
from .recon_books import epay_file, recharge, sample_channel, sample_file

TODAY = timezone.localdate()
DAY = TODAY - timedelta(days=3)
GOOD = [("YF1", "100.00", "0.38"), ("YF2", "-50.00", "1.00"), ("YF3", "20.00", "0.08")]


@pytest.fixture
def inbox(tmp_path, settings) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    settings.CHANNEL_STATEMENT_INBOX = folder
    settings.CHANNEL_STATEMENT_SETTLE_SECONDS = 10
    settings.CHANNEL_STATEMENT_CLAIM_MINUTES = 30
    return folder


def drop(inbox: Path, code: str, name: str, content: bytes, *, age: float = 60) -> Path:
    """A file as a copy leaves it: written, then unchanged for ``age`` seconds."""
    folder = inbox / code
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def tree(inbox: Path) -> list[str]:
    return sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file())


def epay_good(day=DAY) -> bytes:
    return epay_file(day, GOOD)


def bank_file(day=DAY) -> bytes:
    """The sample bank's statement, its dates (and serials) moved to ``day``."""
    return sample_file("banksim_20261120.csv").replace(b"20261120", f"{day:%Y%m%d}".encode())


def name_for(code: str, day=DAY) -> str:
    return f"{code}_{day:%Y%m%d}.csv"


# ------------------------------------------------------------ outcomes ----


@pytest.mark.django_db
def test_a_good_file_is_imported_and_moved_to_done(ledger, inbox, django_capture_on_commit_callbacks, caplog):
    sample_channel("banksim")
    name = name_for("banksim")
    drop(inbox, "banksim", name, bank_file())
    with caplog.at_level(logging.INFO, logger="reports.channel.inbox"), django_capture_on_commit_callbacks() as queued:
        results = statement_inbox_scan()

    statement = StatementImport.objects.get()
    assert results == [
        {
            "channel": "banksim",
            "file": name,
            "outcome": "imported",
            "statement_date": DAY.isoformat(),
            "import_id": statement.pk,
            "lines": 4,
            "moved_to": f"banksim/done/{name}",
        }
    ]
    assert (statement.channel.code, statement.statement_date, statement.file_name, statement.imported_by) == (
        "banksim",
        DAY,
        name,
        INBOX_ACTOR,
    )
    assert StatementLine.objects.filter(statement=statement).count() == 4
    assert (inbox / "banksim" / "done" / name).read_bytes() == bank_file()
    assert tree(inbox) == [f"banksim/done/{name}"]  # no claim left in processing/
    assert not list((inbox / "banksim" / "processing").iterdir())
    assert len(queued) == 1  # the day's matching, queued on commit
    assert f"banksim/{name} imported as #{statement.pk}" in caplog.text


@pytest.mark.django_db
def test_a_bad_amount_sends_the_file_to_failed_naming_the_line_and_stores_nothing(ledger, inbox, caplog):
    sample_channel("epaysim")
    name = name_for("epaysim")
    content = epay_good().replace(b"-50.00", b"-5x").replace(b"20.00,0.08", b"20.00,abc")
    drop(inbox, "epaysim", name, content)
    with caplog.at_level(logging.WARNING, logger="reports.channel.inbox"):
        [result] = statement_inbox_scan()

    assert result["outcome"] == "refused" and result["moved_to"] == f"epaysim/failed/{name}"
    assert "line 7, column 金额(元): '-5x' is not a decimal amount" in result["reason"]
    assert tree(inbox) == [f"epaysim/failed/{name}", f"epaysim/failed/{name}.error.txt"]
    assert (inbox / "epaysim" / "failed" / name).read_bytes() == content
    error = (inbox / "epaysim" / "failed" / f"{name}.error.txt").read_text(encoding="utf-8")
    assert "refused (statement_file_invalid)" in error
    assert "  line 7, column 金额(元): '-5x' is not a decimal amount\n" in error
    assert "  line 8, column 手续费(元): 'abc' is not a decimal amount\n" in error
    assert StatementImport.objects.count() == 0 and StatementLine.objects.count() == 0
    assert f"epaysim/{name} refused" in caplog.text


@pytest.mark.django_db
def test_a_file_of_another_day_is_refused_naming_the_dates_as_an_upload_is(ledger, inbox):
    sample_channel("epaysim")
    name = name_for("epaysim")  # named for DAY, written for the day before
    drop(inbox, "epaysim", name, epay_good(DAY - timedelta(days=1)))
    [result] = statement_inbox_scan()

    other, day = f"{DAY - timedelta(days=1):%Y-%m-%d}", f"{DAY:%Y-%m-%d}"
    assert result["outcome"] == "refused" and result["moved_to"] == f"epaysim/failed/{name}"
    assert f"the file is dated {other}; the statement day chosen is {day}" in result["reason"]
    error = (inbox / "epaysim" / "failed" / f"{name}.error.txt").read_text(encoding="utf-8")
    assert "refused (statement_wrong_day)" in error
    assert f"  line 3: the header says {other}, not {day}\n" in error
    assert f"  the lines are dated {other} (3 lines), not only {day}\n" in error
    assert StatementImport.objects.count() == 0


@pytest.mark.django_db
def test_a_file_with_many_problems_lists_the_first_twenty_and_how_many_more(ledger, inbox):
    sample_channel("epaysim")
    name = name_for("epaysim")
    rows = [(f"M{n}", "1.00", "0.01") for n in range(25)]
    drop(inbox, "epaysim", name, epay_file(DAY, rows).replace(b",1.00,", b",1.0x,"))
    [result] = statement_inbox_scan()

    assert result["outcome"] == "refused"
    error = (inbox / "epaysim" / "failed" / f"{name}.error.txt").read_text(encoding="utf-8")
    listed = [line for line in error.splitlines() if line.startswith("  line ")]
    assert len(listed) == 20 and listed[0].startswith("  line 6,")
    assert "  and 5 more problems\n" in error and "line 30," not in error
    assert StatementImport.objects.count() == 0


@pytest.mark.django_db
def test_a_duplicate_goes_to_failed_naming_the_earlier_import(ledger, inbox):
    channel = sample_channel("epaysim")
    earlier = statement_import(
        channel=channel, statement_date=DAY, file_name="upload.csv", content=epay_good(), imported_by="finance"
    )
    drop(inbox, "epaysim", name_for("epaysim"), epay_good())  # the same bytes
    other_day = TODAY - timedelta(days=4)
    drop(inbox, "epaysim", f"epaysim_{other_day:%Y-%m-%d}_corrected.csv", epay_good())
    drop(inbox, "epaysim", f"epaysim_{DAY:%Y%m%d}_v2.csv", epay_file(DAY, GOOD[:2]))
    results = statement_inbox_scan()

    assert [r["outcome"] for r in results] == ["refused"] * 3
    for result in results:
        assert f"statement import #{earlier.pk} (epaysim, {DAY:%Y-%m-%d}, upload.csv, by finance" in result["reason"]
        error = (inbox / result["moved_to"]).with_name(Path(result["moved_to"]).name + ".error.txt")
        assert "refused (statement_already_imported)" in error.read_text(encoding="utf-8")
    assert "This file was already imported" in results[0]["reason"]
    assert f"epaysim already has a statement for {DAY}" in results[2]["reason"]
    assert StatementImport.objects.get() == earlier


@pytest.mark.django_db
def test_a_file_too_fresh_is_left_for_a_later_scan(ledger, inbox):
    sample_channel("epaysim")
    name = name_for("epaysim")
    path = drop(inbox, "epaysim", name, epay_good(), age=2)
    drop(inbox, "epaysim", f".{name}", b"hidden: being written by an upload tool")
    drop(inbox, "epaysim", f"{name}.part", b"an unfinished copy")
    drop(inbox, "epaysim", f"{name}.tmp", b"an unfinished copy")

    [result] = statement_inbox_scan()
    assert result["outcome"] == "waiting" and result["file"] == name
    assert path.exists() and StatementImport.objects.count() == 0

    os.utime(path, (time.time() - 11, time.time() - 11))
    [result] = statement_inbox_scan()
    assert result["outcome"] == "imported"
    assert tree(inbox) == sorted(
        [f"epaysim/.{name}", f"epaysim/{name}.part", f"epaysim/{name}.tmp", f"epaysim/done/{name}"]
    )


@pytest.mark.django_db
def test_unknown_or_inactive_channel_folders_and_stray_files_are_refused(ledger, inbox):
    sample_channel("banksim")
    Channel.objects.filter(code="banksim").update(active=False)
    drop(inbox, "nosuch", name_for("nosuch"), epay_good())
    drop(inbox, "banksim", name_for("banksim"), bank_file())
    (inbox / name_for("epaysim")).write_bytes(epay_good())  # not in a channel folder
    os.utime(inbox / name_for("epaysim"), (time.time() - 60, time.time() - 60))

    results = {r["channel"]: r for r in statement_inbox_scan()}
    assert results["nosuch"]["outcome"] == "refused"
    assert "no channel has the code 'nosuch'" in results["nosuch"]["reason"]
    assert results["banksim"]["outcome"] == "refused"
    assert results["banksim"]["reason"] == "the channel banksim is inactive"
    assert results[""] == {
        "channel": "",
        "file": name_for("epaysim"),
        "outcome": "ignored",
        "reason": "not in a channel folder",
    }
    assert tree(inbox) == sorted(
        [
            f"banksim/failed/{name_for('banksim')}",
            f"banksim/failed/{name_for('banksim')}.error.txt",
            name_for("epaysim"),
            f"nosuch/failed/{name_for('nosuch')}",
            f"nosuch/failed/{name_for('nosuch')}.error.txt",
        ]
    )
    assert StatementImport.objects.count() == 0


@pytest.mark.django_db
def test_a_file_name_without_a_date_is_refused(ledger, inbox):
    sample_channel("epaysim")
    drop(inbox, "epaysim", "statement.csv", epay_good())
    drop(inbox, "epaysim", "epaysim_20261340.csv", epay_good())
    future = TODAY + timedelta(days=1)
    drop(inbox, "epaysim", f"epaysim_{future:%Y%m%d}.csv", epay_good())
    results = {r["file"]: r["reason"] for r in statement_inbox_scan()}
    assert results["statement.csv"].startswith("the file name has no statement date (YYYYMMDD or YYYY-MM-DD)")
    assert results["epaysim_20261340.csv"].startswith("the file name has no valid date (20261340 is not")
    assert results[f"epaysim_{future:%Y%m%d}.csv"] == (f"the date in the file name ({future:%Y%m%d}) is in the future")
    error = (inbox / "epaysim" / "failed" / "statement.csv.error.txt").read_text(encoding="utf-8")
    assert "refused (statement_inbox_refused)" in error and "has no statement date" in error
    assert StatementImport.objects.count() == 0


def test_the_statement_date_is_the_first_date_in_the_name():
    day = TODAY - timedelta(days=30)
    assert statement_date_from_name(f"banksim_{day:%Y%m%d}.csv") == day
    assert statement_date_from_name(f"epay-{day:%Y-%m-%d}-merchant.csv") == day
    assert statement_date_from_name(f"m888800001234_{day:%Y%m%d}_{TODAY:%Y%m%d}.csv") == day  # 12 digits: not a date


@pytest.mark.django_db
def test_names_taken_in_done_and_failed_are_never_overwritten(ledger, inbox):
    sample_channel("epaysim")
    name = name_for("epaysim")
    (inbox / "epaysim" / "failed").mkdir(parents=True)
    (inbox / "epaysim" / "failed" / name).write_bytes(b"an earlier refused file")
    drop(inbox, "epaysim", name, epay_good().replace(b"100.00", b"1x"))
    [result] = statement_inbox_scan()
    stem = name.removesuffix(".csv")
    assert result["moved_to"] == f"epaysim/failed/{stem}.2.csv"
    assert (inbox / "epaysim" / "failed" / name).read_bytes() == b"an earlier refused file"
    assert (inbox / "epaysim" / "failed" / f"{stem}.2.csv.error.txt").exists()


@pytest.mark.django_db
def test_the_management_command_and_the_task_in_process(ledger, inbox):
    sample_channel("epaysim")
    drop(inbox, "epaysim", name_for("epaysim"), epay_good(), age=0)
    out = StringIO()
    call_command("statement_inbox_scan", stdout=out)
    assert "epaysim/" + name_for("epaysim") + ": waiting" in out.getvalue()
    call_command("statement_inbox_scan", "--settle-seconds", "0", stdout=out)
    statement = StatementImport.objects.get()
    assert (
        f"epaysim/{name_for('epaysim')}: imported as #{statement.pk} ({DAY}, 3 lines) "
        f"-> epaysim/done/{name_for('epaysim')}"
    ) in out.getvalue()
    assert out.getvalue().rstrip().endswith(f"{inbox}: 1 imported")
    drop(inbox, "epaysim", name_for("epaysim", TODAY - timedelta(days=5)), epay_file(TODAY - timedelta(days=5), []))
    [result] = tasks.statement_inbox_scan.delay().get()
    assert result["outcome"] == "imported" and result["lines"] == 0


@pytest.mark.django_db
def test_a_missing_inbox_is_nothing_to_do(tmp_path, settings):
    settings.CHANNEL_STATEMENT_INBOX = tmp_path / "not-there"
    assert statement_inbox_scan() == []


# ---------------------------------------------------------- claims ----


def stand_in_for_matching(monkeypatch, stand_in) -> None:
    """The import queues the matching by task name (accounts.kernel.tasks): put the
    stand-in in the Celery registry under that name."""
    monkeypatch.setitem(current_app.tasks, "reports.tasks.channel_recon_run", stand_in)


class QueuedMatching:
    """Stands in for reports.tasks.channel_recon_run: records what was queued."""

    def __init__(self):
        self.calls = []

    def delay(self, *args):
        self.calls.append(args)


@pytest.mark.django_db(transaction=True)
def test_two_scans_at_once_import_each_file_once(ledger, inbox, monkeypatch):
    stand_in_for_matching(monkeypatch, queued := QueuedMatching())
    sample_channel("epaysim")
    sample_channel("banksim")
    names = []
    for back in range(3, 11):
        day = TODAY - timedelta(days=back)
        names.append(f"epaysim/{name_for('epaysim', day)}")
        drop(inbox, "epaysim", name_for("epaysim", day), epay_file(day, [(f"YF{back}", "10.00", "0.04")]))
    names.append(f"banksim/{name_for('banksim')}")
    drop(inbox, "banksim", name_for("banksim"), bank_file())

    start = threading.Barrier(3)
    results, errors = [], []

    def scan():
        try:
            start.wait()
            results.extend(statement_inbox_scan())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sorted(f"{r['channel']}/{r['file']}" for r in results) == sorted(names)  # each seen by one scan only
    assert {r["outcome"] for r in results} == {"imported"}
    assert StatementImport.objects.count() == len(names)
    assert tree(inbox) == sorted(n.replace("/", "/done/") for n in names)
    assert len(queued.calls) == len(names)


@pytest.mark.django_db
def test_the_scan_that_loses_the_claim_leaves_the_file_to_the_winner(ledger, inbox, monkeypatch):
    import reports.channel.inbox as recon_inbox

    sample_channel("epaysim")
    drop(inbox, "epaysim", name_for("epaysim"), epay_good())
    real_claim = recon_inbox._Scan._claim
    other = []

    def another_scan_gets_there_first(path, processing, *, at):
        if not other:
            other.append("running")
            other.extend(statement_inbox_scan())  # between our listing and our rename
        return real_claim(path, processing, at=at)

    monkeypatch.setattr(recon_inbox._Scan, "_claim", staticmethod(another_scan_gets_there_first))
    assert statement_inbox_scan() == []  # found the file gone: not refused as a duplicate
    assert [r["outcome"] for r in other[1:]] == ["imported"]
    assert tree(inbox) == [f"epaysim/done/{name_for('epaysim')}"]
    assert not list((inbox / "epaysim" / "processing").iterdir())  # the loser's claim folder is gone too
    assert StatementImport.objects.count() == 1


@pytest.mark.django_db
def test_a_claim_left_by_a_dead_scan_is_taken_over(ledger, inbox, caplog):
    sample_channel("epaysim")
    processing = inbox / "epaysim" / "processing"
    stale = processing / "20260101T000000Z-0badc0de"
    stale.mkdir(parents=True)
    (stale / name_for("epaysim")).write_bytes(epay_good())
    busy_day = TODAY - timedelta(days=4)
    busy = processing / f"{timezone.now() - timedelta(minutes=20):%Y%m%dT%H%M%SZ}-00c0ffee"
    busy.mkdir()
    (busy / name_for("epaysim", busy_day)).write_bytes(epay_good(busy_day))  # another scan is at work on it

    with caplog.at_level(logging.WARNING, logger="reports.channel.inbox"):
        [result] = statement_inbox_scan()
    assert result["outcome"] == "imported" and result["file"] == name_for("epaysim")
    assert "was left claimed since 20260101T000000Z; taking it over" in caplog.text
    assert StatementImport.objects.get().statement_date == DAY
    assert tree(inbox) == sorted(
        [f"epaysim/done/{name_for('epaysim')}", f"epaysim/processing/{busy.name}/{name_for('epaysim', busy_day)}"]
    )

    # With a claim time shorter than its 20 minutes, the busy one is taken over too.
    [result] = statement_inbox_scan(claim_minutes=15)
    assert result["outcome"] == "imported"
    assert not list(processing.iterdir())


@pytest.mark.django_db
def test_a_claim_whose_import_had_committed_goes_to_done_but_a_second_drop_is_a_duplicate(ledger, inbox):
    channel = sample_channel("epaysim")
    name = name_for("epaysim")
    # The dead scan imported the file, then died before moving it.
    earlier = statement_import(
        channel=channel, statement_date=DAY, file_name=name, content=epay_good(), imported_by=INBOX_ACTOR
    )
    stale = inbox / "epaysim" / "processing" / "20260101T000000Z-0badc0de"
    stale.mkdir(parents=True)
    (stale / name).write_bytes(epay_good())
    [result] = statement_inbox_scan()
    assert result["outcome"] == "imported" and result["import_id"] == earlier.pk
    assert "interrupted before moving the file" in result["reason"]
    # The same file dropped again is a duplicate.
    drop(inbox, "epaysim", name, epay_good())
    [result] = statement_inbox_scan()
    assert result["outcome"] == "refused" and f"statement import #{earlier.pk}" in result["reason"]
    assert tree(inbox) == [f"epaysim/done/{name}", f"epaysim/failed/{name}", f"epaysim/failed/{name}.error.txt"]
    assert StatementImport.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_import_that_committed_before_queueing_failed_goes_to_done(ledger, inbox, monkeypatch, caplog):
    class BrokerDown:
        @staticmethod
        def delay(*args):
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    stand_in_for_matching(monkeypatch, BrokerDown)
    sample_channel("epaysim")
    drop(inbox, "epaysim", name_for("epaysim"), epay_good())
    with caplog.at_level(logging.WARNING, logger="reports.channel.inbox"):
        [result] = statement_inbox_scan()
    assert result["outcome"] == "imported" and "queueing the matching failed" in result["reason"]
    assert StatementImport.objects.get().pk == result["import_id"]
    assert "run the matching for epaysim" in caplog.text
    assert tree(inbox) == [f"epaysim/done/{name_for('epaysim')}"]


@pytest.mark.django_db
def test_a_database_error_leaves_the_file_claimed_for_the_next_scan(ledger, inbox, monkeypatch):
    from django.db import OperationalError

    import reports.channel.inbox as recon_inbox

    sample_channel("epaysim")
    drop(inbox, "epaysim", name_for("epaysim"), epay_good())
    real_import = recon_inbox.statement_import

    def unreachable(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(recon_inbox, "statement_import", unreachable)
    [result] = statement_inbox_scan()
    assert result["outcome"] == "retry" and result["moved_to"].startswith("epaysim/processing/")
    assert (inbox / result["moved_to"]).exists()
    monkeypatch.setattr(recon_inbox, "statement_import", real_import)
    [result] = statement_inbox_scan()  # due at once
    assert result["outcome"] == "imported"
    assert tree(inbox) == [f"epaysim/done/{name_for('epaysim')}"]


# ------------------------------------------------------ real worker ----


@pytest.fixture
def worker_on_inbox(tmp_path, monkeypatch, request):
    """A real worker whose CHANNEL_STATEMENT_INBOX is a fresh folder (the
    environment is set before the worker process starts)."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    monkeypatch.setenv("CHANNEL_STATEMENT_INBOX", str(folder))
    monkeypatch.setenv("CHANNEL_STATEMENT_SETTLE_SECONDS", "5")
    return folder, request.getfixturevalue("celery_worker_on_redis")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_scan_runs_on_a_real_worker_and_queues_the_matching(ledger, worker_on_inbox):
    inbox, run = worker_on_inbox
    day = TODAY - timedelta(days=1)
    open_books_on(ledger.entity, day)
    channel = sample_channel("epaysim", clearing=ledger.channel())
    channel.pending_window_minutes = 0
    channel.save()
    recharge(ledger, ledger.cash(), "100.00", "W1")
    name = name_for("epaysim", day)
    drop(inbox, "epaysim", name, epay_file(day, [("W1", "100.00", "0.38")]))
    drop(inbox, "epaysim", "no-date.csv", epay_file(day, []))

    results = run("reports.tasks.statement_inbox_scan")
    by_file = {r["file"]: r for r in results}
    statement = StatementImport.objects.get()
    assert by_file[name]["outcome"] == "imported" and by_file[name]["import_id"] == statement.pk
    assert by_file["no-date.csv"]["outcome"] == "refused"
    assert statement.imported_by == INBOX_ACTOR and statement.statement_date == day
    assert tree(inbox) == sorted(
        [f"epaysim/done/{name}", "epaysim/failed/no-date.csv", "epaysim/failed/no-date.csv.error.txt"]
    )
    # The import queued the day's matching on the worker's queue.
    deadline = time.monotonic() + 60
    while not ReconRun.objects.filter(channel=channel, recon_date=day).exists():
        assert time.monotonic() < deadline, "the matching did not run"
        time.sleep(0.5)
    assert ReconRun.objects.get(channel=channel, recon_date=day).matched_count == 1
    assert run("reports.tasks.statement_inbox_scan") == []  # nothing left to do


def test_beat_scans_the_folder_every_minute(settings):
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "reports.tasks.statement_inbox_scan"]
    assert entry["schedule"].minute == set(range(60))
