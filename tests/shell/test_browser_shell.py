"""In a real browser, the staff shell on a desk (1,440 px) and on a phone
(390 px): no staff page is wider than the window, the menu folds on the
phone with "Log out" still in sight, an error is a page of the layout, and
a form sent after the session expired comes back, after the login, to the
page it was on, with nothing done. Screenshots of every page at both widths
land in test-output/screenshots/shell-*.png."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from postings.models import Entry
from postings.services.statements import monthly_statement_make
from reports.channel.models import Difference
from tests.agreements.books import sign
from tests.browser import chromium, expect, log_in, screenshot
from tests.reports.reporting import make_books
from tests.reports.test_recon_pages import Day
from tests.withdrawals.conftest import desk  # noqa: F401  (a fixture)
from withdrawals.models import Status
from withdrawals.services import withdrawal_auto_review

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = {"desk": 1440, "phone": 390}
FITS = "document.documentElement.scrollWidth <= window.innerWidth"


ADMIN_LISTS = [
    "auth/group",
    "auth/user",
    "kernel/settingchange",
    "accounts/entity",
    "accounts/customer",
    "accounts/member",
    "accounts/accountstatuschange",
    "accounts/accounttype",
    "accounts/account",
    "postings/entry",
    "postings/posting",
    "postings/hold",
    "postings/holdevent",
    "postings/postingrule",
    "postings/accountingcalendar",
    "postings/accountingday",
    "postings/refundpolicy",
    "postings/merchantreserve",
    "postings/creditproduct",
    "postings/bill",
    "postings/creditaccrual",
    "postings/creditallocation",
    "accounts/creditlimitchange",
    "withdrawals/feerule",
    "withdrawals/reviewrule",
    "withdrawals/watchlistentry",
    "withdrawals/payingbank",
    "withdrawals/withdrawal",
    "withdrawals/payoutinstruction",
    "reports/channel",
    "reports/statementimport",
    "reports/statementline",
    "reports/reconrun",
    "reports/difference",
    "reports/closecertificate",
    "reports/vouchergrouping",
    "reports/subjectdimensions",
    "reports/businessdayoverride",
    "reports/settlementterm",
    "reports/channelsettlementsetup",
    "reports/reservebankaccount",
    "reports/merchantsettlement",
    "reports/channelsettlement",
    "agreements/agreement",
    "agreements/debitinstruction",
    "agreements/debitattempt",
    "api/apiclient",
    "api/apikey",
    "api/apicalllog",
    "webhooks/endpoint",
    "webhooks/attempt",
]


def staff_pages(
    *, withdrawal: int, voucher: int, entry: int, posting: int, account: str, difference: int, more: dict[str, str]
) -> dict[str, str]:
    return {
        **more,
        "dashboard": "/withdrawals/",
        "review-queue": "/withdrawals/review/",
        "payout-desk": "/withdrawals/payout/",
        "withdrawals": "/withdrawals/all/",
        "new-withdrawal": "/withdrawals/new/",
        "withdrawal": f"/withdrawals/{withdrawal}/",
        "balance-sheet": "/reports/",
        "checks": "/reports/checks/",
        "vouchers": "/reports/vouchers/",
        "voucher": f"/reports/vouchers/{voucher}/",
        "account-entries": f"/reports/accounts/{account}/entries/",
        "entry": f"/reports/entries/{entry}/",
        "gl-imports": "/reports/gl/",
        "gl-upload": "/reports/gl/upload/",
        "eod-runs": "/reports/eod/",
        "charts": "/reports/charts/",
        "hot-accounts": "/reports/hot-accounts/",
        "recon-runs": "/reports/recon/",
        "statement-upload": "/reports/recon/upload/",
        "differences": "/reports/recon/differences/",
        "difference": f"/reports/recon/differences/{difference}/",
        "posting": f"/postings/{posting}/",
        "refunds": "/postings/refunds/",
        "refund-approvals": "/postings/refunds/approvals/",
        "corrections": "/postings/corrections/",
        "orders": "/postings/orders/",
        "agreements": "/agreements/",
        "monthly-statements": "/postings/statements/",
        "receipt-verify": f"/postings/receipts/verify/?serial_no={posting}&code=0000-0000-0000-0000-0000",
        "credit-bills": "/postings/credit/bills/",
        "credit-overdue": "/postings/credit/overdue/",
        "periods": "/reports/periods/",
        "trial-balance": "/reports/periods/trial-balance/",
        "certificates": "/reports/certificates/",
        "certificates-verify": "/reports/certificates/verify/",
        "voucher-export": "/reports/vouchers/export/",
        "voucher-exports": "/reports/vouchers/exports/",
        "voucher-acknowledge": "/reports/vouchers/acknowledge/",
        "opening-upload": "/reports/opening/upload/",
        "settlement-due": "/reports/settlement/",
        "settlement-done": "/reports/settlement/done/",
        "settlement-channels": "/reports/settlement/channels/",
        "settlement-reserve": "/reports/settlement/reserve/",
        "webhooks": "/webhooks/",
        "not-found": "/reports/no-such-page/",
        "admin": "/admin/",
        **{f"admin-{path.replace('/', '-')}": f"/admin/{path}/" for path in ADMIN_LISTS},
        "admin-withdrawal": f"/admin/withdrawals/withdrawal/{withdrawal}/change/",
        "admin-account": f"/admin/accounts/account/?q={account}",
    }


def pages_of_one_run(recon: Day, boss: User, ledger) -> dict[str, str]:
    """The pages that show one upload, export or run: a statement and its
    preview, the matching's progress, a differences export, a GL trial
    balance's preview and result."""
    from datetime import timedelta

    from reports.channel import progress
    from reports.exporting.models import Export
    from reports.gl_recon.services import gl_import, gl_preview
    from reports.staging.services import staged_upload_create
    from tests.reports.recon_books import epay_file
    from tests.reports.test_gl import GL_ROWS, csv_bytes

    nxt = recon.day + timedelta(days=1)
    content = epay_file(nxt, [("N1", "12.00", "0.05")])
    from reports.channel.importing import statement_preview

    staged = staged_upload_create(
        kind="statement",
        user=boss,
        file_name=f"epaysim_{nxt:%Y%m%d}.csv",
        content=content,
        target={"channel": "epaysim", "statement_date": nxt.isoformat()},
        preview=statement_preview(channel=recon.channel, statement_date=nxt, content=content).as_preview(),
    )
    progress.progress_set("epaysim", recon.day, progress.WRITING, done=30, total=60)
    export = Export.objects.create(
        requested_by=boss, criteria={}, file_name="differences-all.xlsx", status="running", rows_total=3, rows_done=1
    )
    gl_content = csv_bytes(GL_ROWS)
    entity, on = ledger.entity, recon.day
    gl_staged = staged_upload_create(
        kind="gl",
        user=boss,
        file_name="tb.csv",
        content=gl_content,
        target={"entity": entity.code, "accounting_date": on.isoformat()},
        preview=gl_preview(entity=entity, accounting_date=on, file_name="tb.csv", content=gl_content, user=boss),
    )
    gl = gl_import(entity=entity, accounting_date=on, file_name="tb2.csv", content=csv_bytes(GL_ROWS[:2]), user=boss)
    return {
        "statement": f"/reports/recon/statements/{recon.statement.pk}/",
        "statement-preview": f"/reports/recon/upload/{staged.pk}/",
        "recon-progress": f"/reports/recon/progress/epaysim/{recon.day:%Y-%m-%d}/",
        "differences-export": f"/reports/exports/{export.pk}/",
        "gl-preview": f"/reports/gl/upload/{gl_staged.pk}/",
        "gl-result": f"/reports/gl/{gl.pk}/",
    }


def webhook_pages() -> dict[str, str]:
    """An endpoint with a failed attempt (a long URL and a long answer)."""
    from tests.webhooks.books import endpoint_for, failed_attempt

    endpoint, _ = endpoint_for("http://127.0.0.1:9/hooks/ledger/" + "a-long-path/" * 12)
    failed_attempt(endpoint, seq=1)
    return {"webhook": f"/webhooks/{endpoint.pk}/", "admin-webhook": f"/admin/webhooks/endpoint/{endpoint.pk}/change/"}


def test_every_staff_page_fits_a_desk_and_a_phone(live_server, ledger, desk):  # noqa: F811
    books = make_books(ledger)
    voucher = books.vouchers_from_entries()[0].pk
    recon = Day(ledger)
    w = desk.request("800.00")
    boss = User.objects.create_superuser("boss", password="password")
    mandate = sign(ledger, frequency="monthly", schedule_day=1, scheduled_amount="50.00")
    mandate.debit("50.00", "shell-1")
    # A statement on the monthly statements page (made for this month: the books are today's).
    monthly_statement_make(account=books.alice, month=timezone.localdate().replace(day=1))
    pages = staff_pages(
        more={
            **pages_of_one_run(recon, boss, ledger),
            **webhook_pages(),
            "agreement": f"/agreements/{mandate.agreement.pk}/",
        },
        withdrawal=w.pk,
        voucher=voucher,
        entry=Entry.objects.filter(account=books.alice).first().serial_no,
        posting=Entry.objects.filter(account=books.alice).first().posting_id,
        account=books.alice.account_no,
        difference=Difference.objects.filter(channel=recon.channel).first().pk,
    )

    too_wide = []
    with chromium() as browser:
        for label, width in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": 900})
            log_in(page, live_server.url, "boss")
            for name, path in pages.items():
                page.goto(live_server.url + path)
                expect(page.locator("header.top, #header").first).to_be_visible()
                if not page.evaluate(FITS):
                    too_wide.append((label, name, page.evaluate("document.documentElement.scrollWidth")))
                screenshot(page, f"shell-{width}-{name}")
            page.close()
    assert too_wide == [], too_wide


def test_the_phone_menu_folds_and_log_out_stays(live_server, ledger, desk):  # noqa: F811
    reviewer = desk.user("Reviewer").username
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        log_in(page, live_server.url, reviewer)
        page.goto(f"{live_server.url}/withdrawals/review/")
        menu = page.locator("#staff-menu")
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        expect(menu).to_be_hidden()
        page.get_by_role("button", name="Menu").click()
        expect(menu.get_by_role("link", name="Review queue")).to_be_visible()
        screenshot(page, "shell-390-menu-open")
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        page.set_viewport_size({"width": 1440, "height": 900})
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        expect(menu.get_by_role("link", name="Review queue")).to_be_visible()


def test_errors_are_pages_of_the_layout(live_server, ledger, desk):  # noqa: F811
    reviewer = desk.user("Reviewer").username
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        log_in(page, live_server.url, reviewer)
        page.goto(f"{live_server.url}/withdrawals/review/")
        # Not the reviewer's page: the answer says so and leads back.
        response = page.goto(f"{live_server.url}/reports/", referer=f"{live_server.url}/withdrawals/review/")
        assert response.status == 403
        expect(page.locator("#error-page h1")).to_contain_text("Not allowed")
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        screenshot(page, "shell-error-403")
        page.get_by_role("link", name="Back to the page you were on").click()
        expect(page).to_have_url(f"{live_server.url}/withdrawals/review/")

        response = page.goto(f"{live_server.url}/withdrawals/1/approve/")  # a form's address
        assert response.status == 405
        expect(page.locator("#error-page")).to_contain_text("Nothing was done")
        screenshot(page, "shell-error-405")


def test_a_form_sent_after_the_session_expired_returns_to_its_page_after_the_login(live_server, ledger, desk):  # noqa: F811
    w = desk.request("800.00")  # the first to this card: the new-card rule sends it to review
    if desk.fresh(w).status == Status.REQUESTED:
        withdrawal_auto_review(withdrawal_id=w.id)
    assert desk.fresh(w).status == Status.IN_REVIEW
    reviewer = desk.user("Reviewer").username
    detail = f"{live_server.url}/withdrawals/{w.pk}/"

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        log_in(page, live_server.url, reviewer)
        page.goto(detail)
        page.get_by_label("Approval reason").fill("called the member back")
        context.clear_cookies(name="sessionid")  # the session expires while the form is open
        page.get_by_role("button", name="Approve").click()

        expect(page.locator("body")).to_contain_text("Your session had expired")
        screenshot(page, "shell-relogin-1-login")
        page.fill("#id_username", reviewer)
        page.fill("#id_password", "password")
        page.get_by_role("button", name="Log in").click()

        expect(page).to_have_url(detail)
        expect(page.locator(".messages")).to_contain_text("what you sent was not done")
        expect(page.locator("#status")).to_contain_text("in manual review")
        screenshot(page, "shell-relogin-2-back")

    assert desk.fresh(w).status == Status.IN_REVIEW
