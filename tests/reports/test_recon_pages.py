"""The channel reconciliation pages (/reports/recon/): permissions per role,
statement upload (good, bad, duplicate), the runs, the differences with
their filters and export, and working a difference from its page to a
resolution with maker-checker.

The day is the one of test_channel_recon_work: serial A matched, C long
+30, E amount mismatch +5, F short (or pending) -60.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from postings.models import Posting
from postings.selectors import identity_totals
from reports.channel.importing import statement_import
from reports.channel.matching import channel_recon_run
from reports.channel.models import (
    Difference,
    DifferenceEvent,
    DifferenceProposal,
    ReconRun,
    StatementImport,
    StatementLine,
)

from .eod_books import open_books_on
from .recon_books import epay_file, recharge, sample_channel
from .reporting import ALL_ROLES, csv_rows, ensure_report_roles, expect, staff_user, xlsx_rows

pytestmark = pytest.mark.django_db

READERS = {"Finance staff", "Auditor", "Ledger admin"}
WORKERS = {"Finance staff"}


class Day:
    def __init__(self, ledger):
        from postings.selectors import current_accounting_date

        ensure_report_roles()
        self.ledger = ledger
        self.day = current_accounting_date(entity=ledger.entity)
        open_books_on(ledger.entity, self.day)
        self.clearing = ledger.channel()
        self.channel = sample_channel("epaysim", clearing=self.clearing)
        self.wallet = ledger.cash()
        recharge(ledger, self.wallet, "100.00", "A")
        recharge(ledger, self.wallet, "40.00", "E")
        recharge(ledger, self.wallet, "60.00", "F")
        self.statement = statement_import(
            channel=self.channel,
            statement_date=self.day,
            file_name="d.csv",
            imported_by="finance",
            content=epay_file(self.day, [("A", "100.00", "0.38"), ("C", "30.00", "0.11"), ("E", "45.00", "0.17")]),
        )
        channel_recon_run(channel=self.channel, recon_date=self.day)

    @staticmethod
    def diff(serial: str) -> Difference:
        return Difference.objects.get(serial_no=serial)

    @staticmethod
    def client(username: str, role: str | None = "Finance staff") -> tuple[Client, User]:
        return login(username, role)


def login(username: str, role: str | None = "Finance staff") -> tuple[Client, User]:
    user = User.objects.filter(username=username).first() or staff_user(username, role)
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def day(ledger):
    return Day(ledger)


def _as(role):
    client = Client()
    if role is not None:
        client.force_login(staff_user(role.lower().replace(" ", "_"), role))
    return client


# --------------------------------------------------------- permissions ----


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_page_is_for_its_roles_only(day, role, django_capture_on_commit_callbacks):
    client = _as(role)
    c = day.diff("C")
    pages = [
        reverse("reports:recon_runs"),
        reverse("reports:recon_differences"),
        reverse("reports:recon_differences_csv"),
        reverse("reports:recon_difference", args=[c.pk]),
        reverse("reports:recon_statement", args=[day.statement.pk]),
    ]
    for url in pages:
        expect(client.get(url), role, READERS)
    # The spreadsheet is asked for (a worker writes it), then followed on its own page.
    with django_capture_on_commit_callbacks(execute=True):  # the task, run here without a broker
        asked = client.post(reverse("reports:recon_differences_xlsx"))
    expect(asked, role, READERS, ok=302)
    if role in READERS:
        expect(client.get(asked["Location"]), role, READERS)
        expect(client.get(asked["Location"] + "file/"), role, READERS)
    expect(client.get(reverse("reports:statement_upload")), role, WORKERS)
    # The preview of an upload (staged by a member of finance) is for finance staff, and only its uploader.
    staged = _staged_statement(day)
    expect(client.get(reverse("reports:statement_preview", args=[staged.pk])), role, WORKERS, ok=404)
    expect(client.post(reverse("reports:statement_preview", args=[staged.pk])), role, WORKERS, ok=404)
    assert StatementImport.objects.count() == 1


def _staged_statement(day):
    """An upload of the next day's statement, staged by another member of finance."""
    from datetime import timedelta

    from reports.staging.services import staged_upload_create

    _, maker = login("maker")
    nxt = day.day + timedelta(days=1)
    return staged_upload_create(
        kind="statement",
        user=maker,
        file_name="next.csv",
        content=epay_file(nxt, [("N1", "1.00", "0")]),
        target={"channel": "epaysim", "statement_date": nxt.isoformat()},
        preview={"line_count": 1},
    )


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_finance_staff_change_anything(day, role):
    client = _as(role)
    c = day.diff("C")
    events = DifferenceEvent.objects.count()
    response = client.post(reverse("reports:recon_difference_act", args=[c.pk]), {"action": "note", "note": "x"})
    expect(response, role, WORKERS, ok=302)
    assert DifferenceEvent.objects.count() == events + (1 if role in WORKERS else 0)

    runs = ReconRun.objects.get().runs
    response = client.post(reverse("reports:recon_match"), {"statement": day.statement.pk})
    expect(response, role, WORKERS, ok=302)
    assert ReconRun.objects.get().runs == runs + (1 if role in WORKERS else 0)

    from reports.channel.models import StatementVoid

    response = client.post(
        reverse("reports:recon_statement_void", args=[day.statement.pk]), {"action": "request", "note": "wrong"}
    )
    expect(response, role, WORKERS, ok=302)
    assert StatementVoid.objects.count() == (1 if role in WORKERS else 0)

    upload = SimpleUploadedFile("e.csv", epay_file(day.day, [("Z", "1.00", "0")]))
    response = client.post(
        reverse("reports:statement_upload"),
        {"channel": "banksim", "statement_date": day.day.isoformat(), "file": upload},
    )
    if role in WORKERS:
        assert response.status_code == 400  # banksim cannot read the payment company's file
    else:
        expect(response, role, WORKERS)
    assert StatementImport.objects.count() == 1


# -------------------------------------------------------------- upload ----


def _upload(client, day, content, *, channel="epaysim", name="epay.csv"):
    return client.post(
        reverse("reports:statement_upload"),
        {
            "channel": channel,
            "statement_date": day.isoformat(),
            "file": SimpleUploadedFile(name, content, content_type="text/csv"),
        },
    )


def test_an_uploaded_statement_is_previewed_then_imported_once_on_confirmation(ledger):
    ensure_report_roles()
    from postings.selectors import current_accounting_date

    today = current_accounting_date(entity=ledger.entity)
    open_books_on(ledger.entity, today)
    clearing = ledger.channel()
    sample_channel("epaysim", clearing=clearing)
    wallet = ledger.cash()
    recharge(ledger, wallet, "100.00", "A")
    client, _ = login("finance")
    content = epay_file(today, [("A", "100.00", "0.38"), ("C", "30.00", "0.11"), ("W", "-7.50", "1.00")])

    response = _upload(client, today, content)
    assert response.status_code == 302
    preview = client.get(response["Location"])
    text = preview.content.decode()
    # What the file says, and nothing stored yet.
    assert f'<td id="preview-dates">{today:%Y-%m-%d}' in text
    assert '<td id="preview-lines">3</td>' in text
    assert "130.00" in text and "7.50" in text  # in and out totals
    assert f"A,{today:%Y-%m-%d} 10:00:00" in text and f"W,{today:%Y-%m-%d} 10:00:00" in text  # first, last
    assert StatementImport.objects.count() == 0 and ReconRun.objects.count() == 0

    confirmed = client.post(response["Location"], follow=True)
    assert "3 lines of epay.csv for epaysim" in confirmed.content.decode()
    run = ReconRun.objects.get()
    assert (run.matched_count, run.long_count, run.long_amount) == (1, 2, Decimal("37.50"))
    assert f'id="run-epaysim-{today:%Y-%m-%d}"' in confirmed.content.decode()

    # A double click (the form sent again) imports nothing more.
    again = client.post(response["Location"], follow=True)
    assert "was already imported from this upload" in again.content.decode()
    assert StatementImport.objects.count() == 1 and StatementLine.objects.count() == 3

    # Another member of finance cannot see or confirm someone else's upload.
    other, _ = login("finance2")
    assert other.get(response["Location"]).status_code == 404
    assert other.post(response["Location"]).status_code == 404

    duplicate = _upload(client, today, content, name="copy.csv")
    assert duplicate.status_code == 400
    assert "This file was already imported" in duplicate.content.decode()
    assert StatementImport.objects.count() == 1


def test_a_statement_of_another_day_is_refused_naming_the_dates(ledger):
    ensure_report_roles()
    sample_channel("epaysim")
    client, _ = login("finance")
    from datetime import date

    sent = epay_file(date(2026, 11, 20), [("A", "100.00", "0.38")])
    response = _upload(client, date(2026, 11, 21), sent)
    assert response.status_code == 400
    text = response.content.decode()
    assert "the file is dated 2026-11-20; the statement day chosen is 2026-11-21" in text
    assert "line 3: the header says 2026-11-20" in text
    assert "the lines are dated 2026-11-20 (1 line)" in text
    assert StatementImport.objects.count() == 0
    # The right day is then imported as usual: the wrong one blocked nothing.
    assert _upload(client, date(2026, 11, 20), sent).status_code == 302


def test_a_bad_statement_is_refused_whole_naming_the_line(day):
    client, _ = day.client("finance")
    content = epay_file(day.day, [("X1", "10.00", "0"), ("X2", "11.00", "0"), ("X3", "12.00", "0")])
    content = content.replace(b",11.00,", b",ten,")
    before = StatementLine.objects.count()
    response = client.post(
        reverse("reports:statement_upload"),
        {
            "channel": "epaysim",
            "statement_date": day.day.replace(day=1).isoformat(),
            "file": SimpleUploadedFile("bad.csv", content),
        },
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert 'id="statement-problems"' in text and "nothing was written" in text
    assert "line 7" in text  # header block of 4 lines, the column header, X1, then X2
    assert StatementLine.objects.count() == before and StatementImport.objects.count() == 1


# ---------------------------------------------------------------- runs ----


def test_the_runs_page_shows_the_days_figures_and_links_to_its_differences(day):
    client, _ = day.client("auditor_1", "Auditor")
    text = client.get(reverse("reports:recon_runs"), {"channel": "epaysim"}).content.decode()
    assert f'id="run-epaysim-{day.day:%Y-%m-%d}"' in text
    assert "outcome=long" in text and "outcome=amount_mismatch" in text
    assert "Match again" not in text  # an auditor reads, does not run
    assert "Upload a statement" not in text


def test_a_statement_not_matched_yet_is_listed_with_a_match_button(day, ledger):
    from accounts.services import account_open

    bank_clearing = account_open(
        entity=ledger.entity, account_type=ledger.types["CHANNEL_CLEARING"], currency="CNY", name="bank clearing"
    )
    other = sample_channel("banksim", clearing=bank_clearing)
    statement_import(
        channel=other, statement_date=day.day, file_name="bank.csv", imported_by="finance", content=_bank_file(day.day)
    )
    client, _ = day.client("finance")
    text = client.get(reverse("reports:recon_runs")).content.decode()
    assert "bank.csv" in text and ">Match</button>" in text
    response = client.post(
        reverse("reports:recon_match"), {"statement": StatementImport.objects.get(file_name="bank.csv").pk}, follow=True
    )
    assert ReconRun.objects.filter(channel=other, recon_date=day.day).exists()
    assert "Every imported statement has been matched" in response.content.decode()


def _bank_file(day) -> bytes:
    rows = [
        "模拟银行对账单",
        "交易日期,交易时间,交易流水号,摘要,借方发生额,贷方发生额,余额,对方户名",
        f'{day:%Y%m%d},091502,BK1,充值,,"1.00","1.00",张三',
    ]
    return ("\r\n".join(rows) + "\r\n").encode("gbk")


# --------------------------------------------------------- differences ----


def _listed(client, **params) -> set[str]:
    response = client.get(reverse("reports:recon_differences"), params)
    assert response.status_code == 200
    return {d.serial_no for d in response.context["page"].object_list}


def test_the_differences_filters(day, ledger):
    client, user = day.client("finance")
    assert _listed(client) == {"C", "E", "F"}  # unresolved by default
    assert _listed(client, outcome="long") == {"C"}
    assert _listed(client, amount_min="10") == {"C", "F"}
    assert _listed(client, amount_max="10") == {"E"}
    assert _listed(client, amount_min="29.99", amount_max="30") == {"C"}
    assert _listed(client, channel="banksim") == set()
    assert _listed(client, date_from=day.day.isoformat(), date_to=day.day.isoformat()) == {"C", "E", "F"}
    assert _listed(client, date_to=day.day.replace(day=1).isoformat()) == (
        {"C", "E", "F"} if day.day.day == 1 else set()
    )
    assert _listed(client, serial_no="e") == {"E"}
    assert _listed(client, date_from="2020-01-01", date_to=day.day.isoformat()) == {"C", "E", "F"}  # any span

    from reports.channel.work import difference_assign, difference_mark_channel_error

    difference_assign(difference_id=day.diff("E").pk, owner=user, user=user)
    assert _listed(client, owner="finance") == {"E"}
    assert _listed(client, owner="null") == {"C", "F"}
    difference_mark_channel_error(difference_id=day.diff("E").pk, user=user, note="their fee rounding")
    assert _listed(client) == {"C", "F"}
    assert _listed(client, status="resolved") == {"E"}
    assert _listed(client, status="") == {"C", "E", "F"}

    bad = client.get(reverse("reports:recon_differences"), {"date_from": "2026-02-02", "date_to": "2026-01-01"})
    assert bad.status_code == 200 and "The first date is after the last one" in bad.content.decode()
    assert list(bad.context["page"].object_list) == []


def test_the_export_is_the_filtered_open_differences(day, django_capture_on_commit_callbacks):
    client, _ = day.client("auditor_2", "Auditor")
    rows = csv_rows(client.get(reverse("reports:recon_differences_csv")))
    assert {(r["serial_no"], r["outcome"], r["difference_amount"]) for r in rows} == {
        ("C", "long", "30.00"),
        ("E", "amount_mismatch", "5.00"),
        ("F", day.diff("F").outcome, "-60.00"),
    }
    assert {r["status"] for r in rows} == {"open"}
    found = timezone.localtime(day.diff("C").created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert {r["found_at"] for r in rows if r["serial_no"] == "C"} == {found}  # the company's time, as on the pages
    longs = xlsx_rows(_xlsx_export(client, django_capture_on_commit_callbacks, "?outcome=long"))
    assert [(r["serial_no"], r["channel"]) for r in longs] == [("C", "epaysim")]


def _xlsx_export(client, on_commit, query: str = ""):
    """Ask for the spreadsheet; without a broker the task runs after the
    request's commit, and the export's page then offers the file."""
    with on_commit(execute=True):
        asked = client.post(reverse("reports:recon_differences_xlsx") + query)
    assert asked.status_code == 302
    page = client.get(asked["Location"])
    assert 'id="export-ready"' in page.content.decode()
    return client.get(asked["Location"] + "file/")


def test_the_csv_export_streams(day):
    client, _ = day.client("auditor_4", "Auditor")
    response = client.get(reverse("reports:recon_differences_csv"))
    assert response.streaming  # sent as it is read: a long list starts downloading at once
    chunks = iter(response.streaming_content)
    assert next(chunks).decode("utf-8").startswith("\ufeffdifference,channel,recon_date")
    assert len(list(chunks)) == 3  # one chunk per difference: C, E, F


def test_an_export_is_its_requesters_only(day, django_capture_on_commit_callbacks):
    from reports.channel.models import DifferenceExport

    client, _ = day.client("finance")
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(reverse("reports:recon_differences_xlsx") + "?outcome=long")
    other, _ = day.client("finance2")
    assert other.get(asked["Location"]).status_code == 404
    assert other.get(asked["Location"] + "file/").status_code == 404
    assert DifferenceExport.objects.get().rows_done == 1
    assert client.get(reverse("reports:recon_differences_xlsx")).status_code == 405  # asked for by a form, not a link


def test_a_differences_page_shows_the_line_our_posting_and_the_history(day):
    client, _ = day.client("auditor_3", "Auditor")
    e = day.diff("E")
    text = client.get(reverse("reports:recon_difference", args=[e.pk])).content.decode()
    assert e.statement_line.raw in text
    assert f"P{e.posting_id}" in text and day.clearing.account_no in text and day.wallet.account_no in text
    assert "found" in text
    assert 'id="work"' not in text  # an auditor sees no buttons
    assert client.get(reverse("reports:recon_difference", args=[999999])).status_code == 404


# ------------------------------------------------------------- working ----


def _act(client, diff, **data):
    return client.post(reverse("reports:recon_difference_act", args=[diff.pk]), data, follow=True)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_an_adjustment_is_proposed_by_one_and_approved_by_another(day, ledger):
    maker, _ = day.client("maker")
    checker, _ = day.client("checker")
    c = day.diff("C")
    response = _act(maker, c, action="investigate")
    assert _messages(response) == ["Investigating."]
    response = _act(maker, c, action="adjust", counter_account_no=day.wallet.account_no, memo="recharge C missed")
    assert "proposed; another member of staff must approve it" in _messages(response)[0]
    proposal = DifferenceProposal.objects.get()
    assert (proposal.direction, proposal.amount) == ("D", Decimal("30.00"))
    assert 'id="own-proposal"' in response.content.decode()

    refused = _act(maker, c, action="approve", proposal=proposal.pk)
    assert "another person must approve it" in _messages(refused)[0]
    assert not Posting.objects.filter(business_type="adjustment").exists()

    page = checker.get(reverse("reports:recon_differences")).content.decode()
    assert 'id="awaiting-approval"' in page and f"P{proposal.pk}" in page
    assert 'id="awaiting-approval"' not in maker.get(reverse("reports:recon_differences")).content.decode()

    response = _act(checker, c, action="approve", proposal=proposal.pk, note="slip checked")
    assert "the difference is resolved" in _messages(response)[0]
    c.refresh_from_db()
    assert (c.status, c.resolution) == ("resolved", "adjusting_posting")
    assert Posting.objects.filter(business_type="adjustment").count() == 1
    assert all(t.holds for t in identity_totals())
    again = _act(checker, c, action="approve", proposal=proposal.pk)
    assert "already approved" in _messages(again)[0]
    assert Posting.objects.filter(business_type="adjustment").count() == 1
    assert 'id="work"' not in again.content.decode()  # resolved: nothing left to do


def test_bad_actions_are_refused_with_a_message_and_change_nothing(day):
    client, _ = day.client("finance")
    c, e = day.diff("C"), day.diff("E")
    events = DifferenceEvent.objects.count()
    cases = [
        ({"action": "adjust", "counter_account_no": "NOPE", "memo": "x"}, "NOPE"),
        (
            {"action": "adjust", "counter_account_no": day.clearing.account_no, "memo": "x"},
            "cannot be the clearing account",
        ),
        ({"action": "adjust", "counter_account_no": day.wallet.account_no, "memo": ""}, "needs"),
        ({"action": "write_off", "note": "lost"}, "suspense"),
        ({"action": "channel_error", "note": ""}, "needs a note"),
        ({"action": "approve", "proposal": "12345"}, "has no proposal"),
        ({"action": "assign", "owner": "ghost"}, "No user ghost"),
        ({"action": "explode"}, "Unknown action"),
    ]
    for data, message in cases:
        response = _act(client, c, **data)
        assert response.status_code == 200
        assert any(message in m for m in _messages(response)), (data, _messages(response))
    assert DifferenceEvent.objects.count() == events
    assert not DifferenceProposal.objects.exists()

    _act(client, e, action="adjust", counter_account_no=day.wallet.account_no, memo="fee")
    other = DifferenceProposal.objects.get()
    response = _act(client, c, action="reject", proposal=other.pk, note="wrong page")
    assert "has no proposal" in _messages(response)[0]
    assert DifferenceProposal.objects.get().status == "proposed"


def test_owner_note_and_channel_error_from_the_page(day):
    client, user = day.client("finance")
    colleague = staff_user("colleague", "Finance staff")
    f = day.diff("F")
    _act(client, f, action="assign", owner="colleague", note="yours")
    _act(client, f, action="note", note="channel support ticket 42")
    response = _act(client, f, action="channel_error", note="the channel lost the line; ticket 42")
    f.refresh_from_db()
    assert (f.owner, f.status, f.resolution) == (colleague, "resolved", "channel_error")
    text = response.content.decode()
    assert "channel support ticket 42" in text and "yours" in text
    kinds = list(DifferenceEvent.objects.filter(difference=f).values_list("kind", flat=True))
    assert kinds[-4:] == ["owner", "note", "status", "resolved"]
    assert Group.objects.get(name="Finance staff") in colleague.groups.all()


def test_a_clearing_account_belongs_to_one_channel(day):
    """Else two channels would both claim its entries (and the matching would fail on it)."""
    from django.forms.models import model_to_dict

    from reports.admin import ChannelForm

    bank = sample_channel("banksim")
    data = {k: v for k, v in model_to_dict(bank).items() if v is not None}
    data["clearing_accounts"] = [day.clearing.pk]
    form = ChannelForm(data=data, instance=bank)
    assert not form.is_valid()
    assert f"{day.clearing.account_no} is already the clearing account of epaysim" in str(form.errors)
    data["clearing_accounts"] = []
    assert ChannelForm(data=data, instance=bank).is_valid(), ChannelForm(data=data, instance=bank).errors
    keep = {k: v for k, v in model_to_dict(day.channel).items() if v is not None}
    assert ChannelForm(data=keep, instance=day.channel).is_valid()  # its own account stays its own


def test_a_statement_is_voided_by_one_and_approved_by_another_from_its_page(day, django_capture_on_commit_callbacks):
    maker, _ = day.client("maker")
    checker, _ = day.client("checker")
    url = reverse("reports:recon_statement", args=[day.statement.pk])
    act = reverse("reports:recon_statement_void", args=[day.statement.pk])
    assert 'id="void-request"' in maker.get(url).content.decode()
    maker.post(act, {"action": "request", "note": "the test merchant's file"})
    page = maker.get(url).content.decode()
    assert 'id="own-void"' in page and 'id="void-decide"' not in page
    refused = _messages(maker.post(act, {"action": "approve"}, follow=True))
    assert refused == ["A void must be approved by someone other than the person who asked for it."]
    assert StatementImport.objects.get().voided_at is None

    page = checker.get(url).content.decode()
    assert 'id="void-decide"' in page and "the test merchant&#x27;s file" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = checker.post(act, {"action": "approve", "note": "ok"}, follow=True)
    assert f"Statement #{day.statement.pk} is void" in " ".join(_messages(response))
    assert StatementImport.objects.get().voided_at is not None
    page = checker.get(url).content.decode()
    assert 'id="void-badge"' in page and "approved: the statement is void" in page
    assert ReconRun.objects.get().channel_count == 0  # matched again without its lines


# ------------------------------------------------------------ progress ----


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_progress_page_is_for_the_readers(day, role):
    from reports.channel import progress

    progress.progress_set("epaysim", day.day, progress.WRITING, done=30, total=60)
    response = _as(role).get(reverse("reports:recon_progress", args=["epaysim", day.day.isoformat()]))
    expect(response, role, READERS)
    if role in READERS:
        text = response.content.decode()
        assert 'value="70"' in text and "(30 of 60 lines)" in text and 'http-equiv="refresh"' in text


def test_a_run_reports_its_steps_and_the_page_follows_it_to_the_figures(day, settings, monkeypatch):
    from reports.channel import progress

    seen = []
    original = progress.progress_set
    monkeypatch.setattr(progress, "progress_set", lambda *a, **k: (seen.append(a[2]), original(*a, **k)))
    client, _ = day.client("finance")
    from celery import current_app

    assert current_app.conf.task_always_eager  # read now: Celery's own setting stays as it is
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the page sends to the progress bar, as with a worker
    response = client.post(reverse("reports:recon_match"), {"statement": day.statement.pk})
    at = reverse("reports:recon_progress", args=["epaysim", day.day.isoformat()])
    assert response["Location"] == at
    assert seen[0] == "queued"  # whatever an earlier run left, the bar starts again
    seen.clear()
    channel_recon_run(channel=day.channel, recon_date=day.day)  # what the worker runs
    assert seen[0] == "pairing" and set(seen[1:-2]) <= {"writing"} and seen[-2:] == ["summing", "done"]
    done = client.get(at)
    assert done.status_code == 302 and done["Location"].startswith(reverse("reports:recon_runs"))

    original("epaysim", day.day, progress.FAILED, note="epaysim has no clearing account")
    failed = client.get(at).content.decode()
    assert "The matching was refused: epaysim has no clearing account" in failed and "refresh" not in failed


def test_an_upload_left_unconfirmed_for_a_day_is_dropped_with_its_file(day):
    from datetime import timedelta

    from reports.staging.models import StagedUpload

    old = _staged_statement(day)
    StagedUpload.objects.filter(pk=old.pk).update(uploaded_at=timezone.now() - timedelta(days=2))
    client, _ = day.client("finance")
    _upload(client, day.day, b"not read")  # refused, nothing staged
    assert StagedUpload.objects.filter(pk=old.pk).exists()
    fresh = _upload(client, day.day + timedelta(days=1), epay_file(day.day + timedelta(days=1), [("N9", "2.00", "0")]))
    assert fresh.status_code == 302
    assert not StagedUpload.objects.filter(pk=old.pk).exists() and StagedUpload.objects.count() == 1
