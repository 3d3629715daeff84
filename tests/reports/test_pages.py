"""The report pages (reports/pages/views.py and the contexts' views) through the Django test client.

Who may see what (groups of migrations withdrawals/0002 and reports/0002):

==============  =======  ==========  ============  ==============  ===========
role            reports  GL upload   EOD retry     account's       entry and
                (view)   import_gl   run_eod       entries         posting
==============  =======  ==========  ============  ==============  ===========
Finance staff   yes      yes         -             yes             yes
Reviewer        -        -           -             yes (*)         -
Cashier         -        -           -             -               -
Auditor         yes      -           -             yes             yes
Ledger admin    yes      -           yes           yes             yes
==============  =======  ==========  ============  ==============  ===========

(*) a page needs the view permission of what it shows: an account's entries
need accounts.view_account and postings.view_entry, which a reviewer has.
A refused page answers 403; an anonymous visitor goes to the login page.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports.eod import services
from reports.eod.models import EodRun, EodStep, RunStatus
from reports.gl_recon.models import GlImport
from reports.vouchers.models import VoucherLine

from .reporting import ALL_ROLES, as_role, books, csv_rows, expect  # noqa: F401
from .test_gl import csv_bytes

pytestmark = pytest.mark.django_db

READERS = {"Finance staff", "Auditor", "Ledger admin"}


@pytest.fixture
def world(books, django_user_model):
    """One of everything the pages show."""
    vouchers = books.vouchers_from_entries()
    books.check("identity", True)
    books.check(
        "entry_chain",
        False,
        [{"account_no": books.bob.account_no, "entry": 999999, "expected": "0.00", "found": "5.00"}],
        summary="1 broken entry",
    )
    uploader = django_user_model.objects.create_user("uploader")
    gl = GlImport.objects.create(
        entity=books.ledger.entity,
        accounting_date=books.day,
        file_name="tb.csv",
        file_sha256="0" * 64,
        row_count=0,
        uploaded_by=uploader,
    )
    run = failed_run(books)
    entry = books.alice.entries.order_by("serial_no").first()
    return {"books": books, "voucher": vouchers[0], "gl": gl, "run": run, "entry": entry}


def failed_run(books) -> EodRun:
    now = timezone.now()
    run = EodRun.objects.create(
        entity=books.ledger.entity,
        accounting_date=books.day,
        status=RunStatus.FAILED,
        triggered_by="beat",
        ended_at=now,
    )
    for position, (name, status, message) in enumerate(
        [("day_cut", "done", ""), ("flush_buffers", "done", ""), ("balance_sheet", "failed", "deadlock detected")]
    ):
        EodStep.objects.create(
            run=run,
            name=name,
            position=position,
            status=status,
            started_at=now,
            ended_at=now,
            rows=10 * position,
            message=message,
        )
    return run


def pages(w):
    b = w["books"]
    return [
        (reverse("reports:balance_sheet"), READERS),
        (reverse("reports:balance_sheet_csv"), READERS),
        (reverse("reports:checks"), READERS),
        (reverse("reports:vouchers"), READERS),
        (reverse("reports:vouchers_csv"), READERS),
        (reverse("reports:vouchers_xlsx"), READERS),
        (reverse("reports:voucher", args=[w["voucher"].pk]), READERS),
        (reverse("reports:voucher_line", args=[w["voucher"].pk, 1]), READERS),
        (reverse("reports:voucher_exports"), READERS),
        (reverse("reports:voucher_export"), {"Finance staff"}),
        (reverse("reports:voucher_ack_upload"), {"Finance staff"}),
        (reverse("reports:gl_imports"), READERS),
        (reverse("reports:gl_import", args=[w["gl"].pk]), READERS),
        (reverse("reports:gl_upload"), {"Finance staff"}),
        (reverse("reports:eod_runs"), READERS),
        (reverse("reports:charts"), READERS),
        (reverse("reports:account_entries", args=[b.alice.account_no]), READERS | {"Reviewer"}),
        (reverse("reports:entry", args=[w["entry"].serial_no]), READERS),
    ]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_page_access_by_role(world, as_role, role):
    client = as_role(role)
    for url, allowed in pages(world):
        response = client.get(url)
        try:
            expect(response, role, allowed)
        except AssertionError:
            raise AssertionError(f"{url} as {role}: {response.status_code}") from None


@pytest.mark.parametrize("role", ALL_ROLES)
def test_retry_only_for_the_ledger_admin(world, as_role, role, monkeypatch):
    calls = []

    def fake_eod_run(*, entity, accounting_date, actor, from_step=None):
        calls.append((entity, accounting_date, actor, from_step))
        return EodRun(status=RunStatus.DONE)

    monkeypatch.setattr(services, "eod_run", fake_eod_run)  # what the Celery task calls
    run = world["run"]
    response = as_role(role).post(reverse("reports:eod_retry", args=[run.pk]))
    expect(response, role, {"Ledger admin"}, ok=302)
    if role == "Ledger admin":
        assert calls == [(run.entity, run.accounting_date, "ledger_admin", "balance_sheet")]
        assert response["Location"] == f"{reverse('reports:eod_runs')}#run-{run.pk}"
    else:
        assert calls == []


def test_retry_button_shown_to_the_ledger_admin_only(world, as_role):
    url = reverse("reports:eod_runs")
    admin_page = as_role("Ledger admin").get(url).content.decode()
    assert "Retry from balance_sheet" in admin_page and "deadlock detected" in admin_page
    assert 'class="bad"' in admin_page
    assert "Retry from" not in as_role("Auditor").get(url).content.decode()


def test_a_retry_runs_the_task_and_says_how_it_ended(world, as_role):
    """Without a broker (tests, the demo) the task runs in the request; the run is then recorded as retried."""
    client = as_role("Ledger admin")
    run = world["run"]
    response = client.post(reverse("reports:eod_retry", args=[run.pk]), follow=True)
    text = response.content.decode()
    assert "retried from balance_sheet: " in text
    latest = EodRun.objects.filter(entity=run.entity, accounting_date=run.accounting_date).order_by("-pk").first()
    assert latest.status in text


def test_retry_needs_a_post(world, as_role):
    assert as_role("Ledger admin").get(reverse("reports:eod_retry", args=[world["run"].pk])).status_code == 405


def test_reports_link_in_the_nav(world, as_role):
    assert 'href="/reports/"' in as_role("Auditor").get(reverse("withdrawals:dashboard")).content.decode()
    assert 'href="/reports/"' not in as_role("Cashier").get(reverse("withdrawals:dashboard")).content.decode()


# ------------------------------------------------------- page contents ----


def test_balance_sheet_by_subject_and_drill_down(world, as_role):
    b = world["books"]
    client = as_role("Finance staff")
    page = client.get(reverse("reports:balance_sheet"), {"group_by": "subject"})
    rows = list(page.context["page"])
    assert [(r["subject_code"], r["closing_total"]) for r in rows] == [
        ("1002", Decimal("-1000.0000")),
        ("2241", Decimal("1000.0000")),
    ]
    html = page.content.decode()
    # subject -> its accounts -> an account's entries
    link = re.search(r'href="(/reports/\?[^"]*subject_code=2241[^"]*)"', html).group(1).replace("&amp;", "&")
    accounts = client.get(link)
    assert {r["account__account_no"] for r in accounts.context["page"]} == {b.alice.account_no, b.bob.account_no}
    entries = client.get(reverse("reports:account_entries", args=[b.alice.account_no]))
    assert [e.amount for e in entries.context["page"]] == [Decimal("1000.0000"), Decimal("300.0000")]
    assert b.requests["transfer"] in entries.content.decode()


def test_balance_sheet_defaults_to_the_latest_day(world, as_role):
    b = world["books"]
    response = as_role("Auditor").get(reverse("reports:balance_sheet"))
    assert response.context["sheet"].date_from == response.context["sheet"].date_to == b.day
    assert response.context["page"].paginator.count == 3


def test_balance_sheet_refuses_a_backwards_range(world, as_role):
    b = world["books"]
    response = as_role("Auditor").get(
        reverse("reports:balance_sheet"),
        {"date_from": b.day.isoformat(), "date_to": (b.day - timedelta(days=1)).isoformat()},
    )
    assert response.status_code == 200
    assert "The first date is after the last one." in response.content.decode()
    assert response.context["page"].paginator.count == 0


def test_check_results_red_with_links_to_what_breaks(world, as_role):
    b = world["books"]
    html = as_role("Auditor").get(reverse("reports:checks")).content.decode()
    assert re.search(
        r'<tr id="check-\d+" class="bad">\s*<td class="nowrap">[^<]*</td>\s*<td>MAIN</td>\s*'
        r'<td class="mono">entry_chain</td>',
        html,
    )
    assert re.search(r'class="ok">\s*<td class="nowrap">[^<]*</td>\s*<td>MAIN</td>\s*<td class="mono">identity', html)
    assert f'href="/reports/accounts/{b.bob.account_no}/entries/?date_from={b.day}&amp;date_to={b.day}"' in html
    assert 'href="/reports/entries/999999/"' in html
    assert "1 failed" in html


def test_checks_filter_on_failed(world, as_role):
    response = as_role("Auditor").get(reverse("reports:checks"), {"passed": "false"})
    assert [c.check_name for c in response.context["page"]] == ["entry_chain"]


def test_voucher_drill_down_to_lines_entries_posting_and_request(world, as_role):
    b = world["books"]
    client = as_role("Auditor")
    credit_2241 = VoucherLine.objects.get(subject_code="2241", direction="C", business_type="transfer")
    voucher = client.get(reverse("reports:voucher", args=[credit_2241.voucher_id])).content.decode()
    line_url = reverse("reports:voucher_line", args=[credit_2241.voucher_id, credit_2241.line_no])
    assert line_url in voucher
    page = client.get(line_url)
    assert page.context["consistent"] is True
    entries = list(page.context["page"])
    assert [(e.account_id, e.amount) for e in entries] == [(b.bob.pk, Decimal("300.0000"))]
    detail = client.get(reverse("reports:entry", args=[entries[0].serial_no])).content.decode()
    assert b.requests["transfer"] in detail
    assert f"P{entries[0].posting_id}" in detail
    assert credit_2241.voucher.voucher_no in detail  # and back from the entry to its voucher


def test_voucher_page_totals_balance(world, as_role):
    response = as_role("Auditor").get(reverse("reports:vouchers"))
    (cny,) = response.context["totals"]
    assert cny["debit"] == cny["credit"] == Decimal("1300.0000")
    assert response.context["page"].paginator.count == 2  # a balanced voucher per business type


def test_charts_draw_svg_with_the_figures(world, as_role):
    b = world["books"]
    response = as_role("Auditor").get(reverse("reports:charts"))
    html = response.content.decode()
    assert html.count("<svg") == 2 and "<script" not in html
    assert f"liability {b.day:%Y-%m-%d}: 1,000" in html
    assert f"internal {b.day:%Y-%m-%d}: -1,000" in html
    # The open day has no vouchers: turnover from the entries (debit side).
    assert f"recharge {b.day:%Y-%m-%d}: 1,000" in html and f"transfer {b.day:%Y-%m-%d}: 300" in html


def test_gl_upload_page_refuses_a_bad_file_and_writes_nothing(world, as_role):
    b = world["books"]
    before = GlImport.objects.count()
    bad = csv_bytes([["2241", "CNY", "0", "lots", "0", "0"]])
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = as_role("Finance staff").post(
        reverse("reports:gl_upload"),
        {
            "entity": b.ledger.entity.pk,
            "accounting_date": b.day.isoformat(),
            "file": SimpleUploadedFile("tb.csv", bad, content_type="text/csv"),
        },
    )
    assert response.status_code == 400
    assert "row 2, column debit: &#x27;lots&#x27; is not a decimal amount" in response.content.decode()
    assert GlImport.objects.count() == before


def test_a_gbk_trial_balance_is_read_and_a_bad_big_one_names_20_problems_and_the_rest(world, as_role):
    """What Excel writes for a Chinese sheet (GBK, Chinese headers) is read;
    a file of 5 MB with a problem on every row shows the first 20 and "and N more"."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    b = world["books"]
    client = as_role("Finance staff")
    form = {"entity": b.ledger.entity.pk, "accounting_date": b.day.isoformat()}
    gbk = "科目代码,科目名称,期初余额,借方发生额,贷方发生额,期末余额\n2241,其他应付款,0,300,1300,1000\n".encode("gbk")
    response = client.post(reverse("reports:gl_upload"), {**form, "file": SimpleUploadedFile("科目余额表.csv", gbk)})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert '<td id="preview-lines">1</td>' in client.get(response["Location"]).content.decode()

    rows = "".join(f"2241,其他应付款{n:06d}{'x' * 80},0,3o0,1300,1000\n" for n in range(45_000))
    big = ("科目代码,科目名称,期初余额,借方发生额,贷方发生额,期末余额\n" + rows).encode("gbk")
    assert len(big) > 5 * 1024 * 1024
    before = GlImport.objects.count()
    refused = client.post(reverse("reports:gl_upload"), {**form, "file": SimpleUploadedFile("big.csv", big)})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert page.count("is not a decimal amount (digits") == 20
    assert "row 21, column 借方发生额" in page and "row 22," not in page
    assert '<li class="more">and 44980 more</li>' in page
    assert GlImport.objects.count() == before


def test_gl_upload_page_imports_and_lists_differences(world, as_role):
    from django.core.files.uploadedfile import SimpleUploadedFile

    b = world["books"]
    content = csv_bytes([["2241", "CNY", "0", "300", "1300", "1000"], ["1002", "CNY", "0", "1000", "0", "-990"]])
    client = as_role("Finance staff")
    form = {"entity": b.ledger.entity.pk, "accounting_date": b.day.isoformat()}
    before = GlImport.objects.count()
    preview = client.post(
        reverse("reports:gl_upload"),
        {**form, "file": SimpleUploadedFile("tb.csv", content, content_type="text/csv")},
        follow=True,
    )
    # The preview: what the file says, nothing imported yet.
    [(at, _)] = preview.redirect_chain
    page = preview.content.decode()
    assert '<td id="preview-lines">2</td>' in page and "none (no accounting_date column)" in page
    assert ">1,300.00<" in page and ">1,300.00<" in page  # debit and credit turnover, CNY
    assert '<td class="mono">2241</td>' in page and '<td class="mono">1002</td>' in page  # first and last rows
    assert GlImport.objects.count() == before

    response = client.post(at, follow=True)
    gl = GlImport.objects.get(file_name="tb.csv", row_count=2)
    assert response.redirect_chain == [(reverse("reports:gl_import", args=[gl.pk]), 302)]
    twice = client.post(at, follow=True)  # a double click: the same import, not a second
    assert twice.redirect_chain == [(reverse("reports:gl_import", args=[gl.pk]), 302)]
    assert "already made from this upload" in twice.content.decode()
    assert GlImport.objects.count() == before + 1
    diffs = response.context["differences"]
    assert [(d.subject_code, d.differing, d.figure("closing").delta) for d in diffs] == [
        ("1002", ("closing",), Decimal("10.0000"))
    ]
    html = response.content.decode()
    assert 'id="diff-1002-CNY"' in html and ">10.00<" in html
    assert "1 difference" in html

    result = reverse("reports:gl_import", args=[gl.pk])
    shown = {
        q: [d.subject_code for d in client.get(result, params).context["differences"]]
        for q, params in {
            "10": {"subject_code": "10"},
            "22": {"subject_code": "22"},
            "USD": {"currency": "USD"},
            "CNY": {"currency": "CNY"},
            "bad": {"currency": "XXX"},
        }.items()
    }
    assert shown == {"10": ["1002"], "22": [], "USD": [], "CNY": ["1002"], "bad": []}
    assert "Select a valid choice" in client.get(result, {"currency": "XXX"}).content.decode()

    again = client.post(
        reverse("reports:gl_upload"),
        {**form, "file": SimpleUploadedFile("again.csv", content, content_type="text/csv")},
    )
    assert again.status_code == 400
    assert f"already imported as GL import #{gl.pk}" in again.content.decode()


def test_forms_need_the_csrf_token(world):
    from .reporting import staff_user

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user("ledgeradmin-csrf", "Ledger admin"))
    assert client.post(reverse("reports:eod_retry", args=[world["run"].pk])).status_code == 403
    client.force_login(staff_user("finance-csrf", "Finance staff"))
    assert client.post(reverse("reports:gl_upload"), {}).status_code == 403


def test_the_pages_after_a_real_end_of_day(ledger, as_role):
    """The end of day (reports.eod.services) fills the tables the pages read:
    the day of Alice's recharge and transfer, end to end."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from reports.eod.models import DailyBalance
    from reports.eod.services import eod_run

    from .reporting import make_books

    b = make_books(ledger)
    DailyBalance.objects.all().delete()  # only the end of day's own rows from here on
    run = eod_run(entity=ledger.entity, accounting_date=b.day, actor="ops")
    assert run.status == RunStatus.DONE

    client = as_role("Finance staff")
    sheet = client.get(reverse("reports:balance_sheet"), {"group_by": "subject"})
    assert [
        (r["subject_code"], r["debit_total"], r["credit_total"], r["closing_total"]) for r in sheet.context["page"]
    ] == [
        ("1002", Decimal("1000.0000"), Decimal("0"), Decimal("-1000.0000")),
        ("2241", Decimal("300.0000"), Decimal("1300.0000"), Decimal("1000.0000")),
    ]
    checks = client.get(reverse("reports:checks"))
    assert checks.context["failed"] == 0 and checks.context["page"].paginator.count >= 5
    vouchers = client.get(reverse("reports:vouchers"))
    (cny,) = vouchers.context["totals"]
    assert cny["debit"] == cny["credit"] == Decimal("1300.0000")
    runs = client.get(reverse("reports:eod_runs")).content.decode()
    assert f'id="run-{run.pk}"' in runs and "balance_sheet" in runs

    agreeing = csv_bytes([["2241", "CNY", "0", "300", "1300", "1000"], ["1002", "CNY", "0", "1000", "0", "-1000"]])
    preview = client.post(
        reverse("reports:gl_upload"),
        {
            "entity": ledger.entity.pk,
            "accounting_date": b.day.isoformat(),
            "file": SimpleUploadedFile("tb.csv", agreeing, content_type="text/csv"),
        },
    )
    result = client.post(preview["Location"], follow=True)
    assert result.context["differences"] == [] and "no differences" in result.content.decode()


def test_only_finance_may_post_an_upload(world, as_role):
    from django.core.files.uploadedfile import SimpleUploadedFile

    b = world["books"]
    before = GlImport.objects.count()
    for role in ("Auditor", "Ledger admin", "Reviewer"):
        response = as_role(role).post(
            reverse("reports:gl_upload"),
            {
                "entity": b.ledger.entity.pk,
                "accounting_date": b.day.isoformat(),
                "file": SimpleUploadedFile("tb.csv", csv_bytes([["2241", "CNY", "0", "0", "0", "0"]])),
            },
        )
        assert response.status_code == 403
    assert GlImport.objects.count() == before


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"account_no": "alice"}, {"alice"}),
        ({"account_type": "CHANNEL_CLEARING"}, {"channel"}),
        ({"subject_code": "2241"}, {"alice", "bob"}),
        ({"category": "internal"}, {"channel"}),
        ({"currency": "USD"}, set()),
        ({"entity": "main"}, {"alice", "bob", "channel"}),
    ],
)
def test_balance_sheet_filters(world, as_role, params, expected):
    b = world["books"]
    names = {b.alice.account_no: "alice", b.bob.account_no: "bob", b.channel.account_no: "channel"}
    params = {
        k: (getattr(b, v).account_no if k == "account_no" else b.ledger.entity.pk if k == "entity" else v)
        for k, v in params.items()
    }
    response = as_role("Auditor").get(reverse("reports:balance_sheet"), params)
    assert {names[r["account__account_no"]] for r in response.context["page"]} == expected
    csv_accounts = {
        r["account_no"] for r in csv_rows(as_role("Auditor").get(reverse("reports:balance_sheet_csv"), params))
    }
    assert {names[a] for a in csv_accounts} == expected
