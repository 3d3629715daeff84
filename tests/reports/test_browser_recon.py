"""In a real browser, channel reconciliation with maker-checker: a finance
clerk uploads the payment company's statement, finds the short (the ledger
booked a 60.00 recharge the channel never collected), opens it and proposes
an adjusting posting; a colleague approves it and the difference is
resolved. Screenshots land in test-output/screenshots/recon-*.png."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from postings.models import Entry, Posting
from postings.selectors import current_accounting_date, identity_totals
from reports.channel.models import Difference, DifferenceProposal
from tests.browser import chromium, expect, log_in, screenshot

from .eod_books import open_books_on
from .recon_books import epay_file, recharge, sample_channel
from .reporting import ensure_report_roles, staff_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.real_clock  # PostgreSQL stamps the postings, and that clock cannot travel
def test_upload_find_the_short_propose_and_approve_an_adjustment(live_server, ledger):
    ensure_report_roles()
    maker = staff_user("maker", "Finance staff").username
    checker = staff_user("checker", "Finance staff").username
    # The 60.00 is short only if booked before its day's cut: that cut is put
    # 12 hours from now (a midnight cut was seconds away near midnight).
    cut = timezone.localtime() + timedelta(hours=12)
    day = cut.date() if cut.hour >= 12 else cut.date() - timedelta(days=1)
    open_books_on(ledger.entity, day, cut.time().replace(second=0, microsecond=0))
    clearing = ledger.channel()
    channel = sample_channel("epaysim", clearing=clearing)
    channel.pending_window_minutes = 0  # whatever the hour, the 60.00 is short, not pending
    channel.save()
    wallet = ledger.cash()
    recharge(ledger, wallet, "100.00", "EP-A")
    recharge(ledger, wallet, "60.00", "EP-F")
    statement = epay_file(day, [("EP-A", "100.00", "0.38")])
    clearing_before, wallet_before = ledger.balance(clearing), ledger.balance(wallet)

    with chromium() as browser:
        first = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        propose(first, live_server.url, user=maker, day=day.isoformat(), statement=statement, wallet=wallet.account_no)
        second = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
        approve(second, live_server.url, user=checker)

    short = Difference.objects.get(serial_no="EP-F")
    assert (short.outcome, short.status, short.resolution, short.resolved_by) == (
        "short",
        "resolved",
        "adjusting_posting",
        checker,
    )
    proposal = DifferenceProposal.objects.get()
    assert (proposal.proposed_by.username, proposal.decided_by.username) == (maker, checker)
    posting = Posting.objects.get(business_type="adjustment")
    legs = {(e.account_id, e.direction, e.amount) for e in Entry.objects.filter(posting=posting)}
    assert legs == {(clearing.pk, "C", Decimal("60.00")), (wallet.pk, "D", Decimal("60.00"))}
    # The clearing account (credit-normal here) had both recharges debited: -160.00; now -100.00, the
    # 100.00 the channel collected.
    assert (clearing_before, ledger.balance(clearing)) == (Decimal("-160.00"), Decimal("-100.00"))
    assert ledger.balance(wallet) == wallet_before - Decimal("60.00")
    assert all(t.holds for t in identity_totals())


@pytest.mark.real_clock
def test_a_statement_is_previewed_confirmed_once_and_one_of_another_day_refused(live_server, ledger):
    """The wrong day is refused naming the dates; the right one is previewed
    (dates, count, totals, first and last lines), nothing stored until
    confirmed; a double click on Confirm imports it once."""
    from reports.channel.models import StatementImport

    ensure_report_roles()
    clerk = staff_user("clerk", "Finance staff").username
    day = timezone.localdate() - timedelta(days=2)
    sample_channel("epaysim", clearing=ledger.channel())
    statement = epay_file(day, [("EP-A", "100.00", "0.38"), ("EP-B", "-40.00", "1.00")])
    wrong = (day + timedelta(days=1)).isoformat()

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        log_in(page, live_server.url, clerk)
        page.goto(f"{live_server.url}/reports/recon/upload/")

        def upload(on: str) -> None:
            page.select_option("#id_channel", "epaysim")
            page.fill("#id_statement_date", on)
            page.set_input_files(
                "#id_file", files=[{"name": "epaysim.csv", "mimeType": "text/csv", "buffer": statement}]
            )
            page.get_by_role("button", name="Read and preview").click()

        upload(wrong)
        problems = page.locator("#statement-problems")
        expect(problems).to_contain_text(f"the file is dated {day}; the statement day chosen is {wrong}")
        expect(problems).to_contain_text(f"the lines are dated {day} (2 lines)")
        screenshot(page, "recon-import-01-wrong-day")

        upload(day.isoformat())
        expect(page.locator("#preview-dates")).to_contain_text(day.isoformat())
        expect(page.locator("#preview-lines")).to_have_text("2")
        totals = page.locator("#preview-totals")
        expect(totals).to_contain_text("100.00")
        expect(totals).to_contain_text("40.00")
        expect(page.locator("#preview-edges")).to_contain_text("EP-A")
        expect(page.locator("#preview-edges")).to_contain_text("EP-B")
        screenshot(page, "recon-import-02-preview")
        button = page.get_by_role("button", name="Confirm import")
        button.dblclick()
        expect(page.locator(".messages")).to_contain_text("epaysim.csv for epaysim")
        screenshot(page, "recon-import-03-confirmed")

    assert StatementImport.objects.filter(statement_date=day).count() == 1
    assert StatementImport.objects.count() == 1


@pytest.mark.real_clock
def test_a_wrong_statement_is_voided_by_one_and_approved_by_another(live_server, ledger):
    from reports.channel.importing import statement_import
    from reports.channel.matching import channel_recon_run
    from reports.channel.models import ReconRun, StatementImport

    ensure_report_roles()
    maker = staff_user("voider", "Finance staff").username
    checker = staff_user("approver", "Finance staff").username
    day = timezone.localdate() - timedelta(days=2)
    channel = sample_channel("epaysim", clearing=ledger.channel())
    wrong = statement_import(
        channel=channel,
        statement_date=day,
        file_name="other-merchant.csv",
        content=epay_file(day, [("X-1", "500.00", "1.90")]),
        imported_by=maker,
    )
    channel_recon_run(channel=channel, recon_date=day)

    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        log_in(page, live_server.url, maker)
        page.goto(f"{live_server.url}/reports/recon/?channel=epaysim")
        page.locator(f"#run-epaysim-{day}").get_by_role("link", name=f"#{wrong.pk}").click()
        page.fill("#void-reason", "the other merchant's statement")
        page.get_by_role("button", name="Ask to void").click()
        expect(page.locator(".messages")).to_contain_text("another member of staff must approve it")
        expect(page.locator("#own-void")).to_be_visible()
        expect(page.get_by_role("button", name="Approve the void")).to_have_count(0)
        screenshot(page, "recon-void-01-asked")

        other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        log_in(other, live_server.url, checker)
        other.goto(f"{live_server.url}/reports/recon/statements/{wrong.pk}/")
        expect(other.locator("#void-decide")).to_contain_text("the other merchant's statement")
        other.fill("#void-note", "confirmed with the channel")
        other.get_by_role("button", name="Approve the void").click()
        expect(other.locator(".messages")).to_contain_text("is void; its day is matched again")
        expect(other.locator("#void-badge")).to_be_visible()
        expect(other.locator("#void-history")).to_contain_text("approved: the statement is void")
        expect(other.locator("#void-history")).to_contain_text(maker)
        screenshot(other, "recon-void-02-approved")

    assert StatementImport.objects.get().voided_at is not None
    run = ReconRun.objects.get()
    assert (run.runs, run.channel_count) == (2, 0)


def propose(page, base: str, *, user: str, day: str, statement: bytes, wallet: str) -> None:
    def shot(name: str) -> None:
        screenshot(page, f"recon-{name}")

    log_in(page, base, user)
    page.goto(f"{base}/reports/")
    page.locator("nav.subnav").get_by_role("link", name="Channel recon").click()
    page.get_by_role("link", name="Upload a statement").click()
    page.select_option("#id_channel", "epaysim")
    page.fill("#id_statement_date", day)
    page.set_input_files(
        "#id_file", files=[{"name": f"epaysim_{day}.csv", "mimeType": "text/csv", "buffer": statement}]
    )
    shot("01-upload")
    page.get_by_role("button", name="Read and preview").click()
    expect(page.locator("#preview-dates")).to_contain_text(day)
    page.get_by_role("button", name="Confirm import").click()

    expect(page.locator(".messages")).to_contain_text(f"1 line of epaysim_{day}.csv for epaysim")
    run = page.locator(f"#run-epaysim-{day}")
    expect(run.locator("td.outcome-short")).to_contain_text("1")
    expect(run.locator("td.outcome-short")).to_contain_text("60.00")
    shot("02-run")

    run.locator("td.outcome-short a").click()
    rows = page.locator("#differences tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("EP-F")
    expect(rows).to_contain_text("-60.00")
    shot("03-differences")
    rows.get_by_role("link", name=re.compile(r"^D\d+$")).click()

    expect(page.locator("h1")).to_contain_text("short")
    expect(page.locator("#statement-line")).to_contain_text("does not have it")
    expect(page.get_by_text("channel serial EP-F")).to_be_visible()
    page.get_by_role("button", name="Start investigating").click()
    expect(page.locator("#status")).to_have_text("investigating (调查中)")
    expect(page.locator("#owner")).to_have_text(user)

    expect(page.locator("#adjust-form")).to_contain_text("credit (贷) CNY 60.00 on the clearing account")
    page.fill("#id_counter_account_no", wallet)
    page.fill("#id_memo", "recharge EP-F never collected by the channel: reverse the credit")
    shot("04-propose")
    page.get_by_role("button", name="Propose adjusting posting").click()
    expect(page.locator(".messages")).to_contain_text("another member of staff must approve it")
    expect(page.locator("#own-proposal")).to_be_visible()
    expect(page.get_by_role("button", name="Approve and post")).to_have_count(0)
    expect(page.locator("#proposals")).to_contain_text("proposed, awaiting approval")
    shot("05-proposed")


def approve(page, base: str, *, user: str) -> None:
    log_in(page, base, user)
    page.goto(f"{base}/reports/recon/differences/")
    waiting = page.locator("#awaiting-approval")
    expect(waiting).to_contain_text("recharge EP-F never collected")
    waiting.get_by_role("link", name=re.compile(r"^D\d+$")).click()
    page.fill("#approve-form input[name=note]", "slip checked with the channel")
    screenshot(page, "recon-06-approve")
    page.get_by_role("button", name="Approve and post").click()

    expect(page.locator(".messages")).to_contain_text("the difference is resolved")
    expect(page.locator("#status")).to_have_text("resolved (已解决)")
    expect(page.locator("#resolution")).to_contain_text(f"adjusting posting (调账) by {user}")
    expect(page.locator("#history")).to_contain_text("proposal approved")
    expect(page.get_by_text("Resolution: P")).to_be_visible()
    expect(page.locator("#work")).to_have_count(0)
    screenshot(page, "recon-07-resolved")


def test_the_differences_spreadsheet_is_written_in_the_background_then_downloaded(live_server, ledger):
    from openpyxl import load_workbook

    from .test_recon_pages import Day

    Day(ledger)  # C long, E amount mismatch, F short or pending
    auditor = staff_user("auditor_x", "Auditor").username
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True).new_page()
        log_in(page, live_server.url, auditor)
        page.goto(f"{live_server.url}/reports/recon/differences/?outcome=long")
        page.get_by_role("button", name="Download XLSX").click()
        # No broker here: written after the request's commit, so the page offers it at once.
        expect(page.locator("#export-ready")).to_contain_text("Ready: 1 difference")
        screenshot(page, "recon-export-ready")
        with page.expect_download() as download:
            page.locator("#export-download").click()
        assert download.value.suggested_filename == "differences-unresolved.xlsx"
        with open(download.value.path(), "rb") as file:  # a temporary name without .xlsx
            sheet = load_workbook(io.BytesIO(file.read()), read_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
    serial, outcome = rows[0].index("serial_no"), rows[0].index("outcome")
    assert [(r[serial], r[outcome]) for r in rows[1:]] == [("C", "long")]
