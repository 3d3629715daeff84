"""One number and date style everywhere (issue 19 §3), and lists that open
on sensible defaults (§4): amounts with thousands commas in the currency's
own minor units, red when negative, a dash for zero in sheets; ISO dates
and 24-hour times in the admin too; plural names that read as English;
statuses by their labels in histories; the recon runs listed without a
click; the main entity first on the GL upload and the charts."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.kernel.admin import plural
from accounts.kernel.money import amount_html, as_money, format_amount, format_money
from accounts.models import Entity
from postings.models import Entry
from tests.reports.reporting import staff_user
from tests.reports.test_recon_pages import day  # noqa: F401  (a fixture)
from tests.withdrawals.conftest import desk  # noqa: F401  (a fixture)
from withdrawals.models import FeeRule
from withdrawals.services import withdrawal_auto_review

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("16760.4700", "CNY", "16,760.47"),
        ("1234567.5", "HKD", "1,234,567.50"),
        ("-42", "USD", "-42.00"),
        ("1234", "JPY", "1,234"),
        ("0", "CNY", "0.00"),
        ("-0.0000", "CNY", "0.00"),
    ],
)
def test_an_amount_is_written_one_way(amount, currency, text):
    assert format_amount(Decimal(amount), currency) == text
    assert format_money(Decimal(amount), currency) == f"{currency} {text}"
    assert str(as_money(Decimal(amount), currency)) == f"{currency} {text}"  # and so every f-string message


def test_negative_is_red_and_zero_in_a_sheet_is_a_dash():
    assert amount_html(Decimal("-5"), "CNY") == '<span class="amt neg">-5.00</span>'
    assert amount_html(Decimal("0"), "CNY", zero="—") == '<span class="amt">—</span>'
    assert amount_html(None, "CNY") == '<span class="amt none">–</span>'


def auditor() -> Client:
    client = Client()
    client.force_login(staff_user("auditor_f", "Auditor"))
    return client


def test_the_admin_writes_amounts_and_dates_as_the_pages_do(ledger):
    wallet = ledger.cash()
    ledger.recharge(wallet, "16760.47")
    client = auditor()  # view only: every field is shown read-only by the admin itself
    account_page = client.get(reverse("admin:accounts_account_change", args=[wallet.pk])).content.decode()
    assert "16,760.47" in account_page and "16760.4700" not in account_page
    entry = Entry.objects.get(account=wallet)
    entry_page = client.get(reverse("admin:postings_entry_change", args=[entry.pk])).content.decode()
    assert "16,760.47" in entry_page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry_page)  # created at, ISO and 24-hour
    assert "a.m." not in entry_page and "p.m." not in entry_page
    rule = FeeRule.objects.filter(currency="CNY").first()
    rule_page = client.get(reverse("admin:withdrawals_feerule_change", args=[rule.pk])).content.decode()
    assert "25.0000" not in rule_page and "25.00" in rule_page  # the maximum fee


def test_admin_names_have_english_plurals():
    html = auditor().get(reverse("admin:index")).content.decode()
    assert "Accounts (账户)" in html and "Holds (冻结单)" in html and "Withdrawals (提现)" in html
    assert "(账户)s" not in html and "(冻结单)s" not in html
    assert plural("accounting entity (会计主体)") == "accounting entities (会计主体)"
    assert plural("accounting day (会计日)") == "accounting days (会计日)"
    assert plural("API call") == "API calls"


def test_a_withdrawal_history_shows_status_labels(desk):  # noqa: F811
    w = desk.request("800.00")
    withdrawal_auto_review(withdrawal_id=w.id)
    client = Client()
    client.force_login(desk.user("Reviewer"))
    html = client.get(reverse("withdrawals:detail", args=[w.pk])).content.decode()
    history = html[html.index('id="history"') :]
    assert "in manual review (人工审核)</span>" in history and "requested (待审核)</span>" in history
    assert ">in_review<" not in history and ">requested<" not in history


def test_the_recon_runs_page_lists_recent_runs_without_a_filter(day):  # noqa: F811
    client, _ = day.client("finance_r")
    html = client.get(reverse("reports:recon_runs")).content.decode()
    assert f'id="run-epaysim-{day.day:%Y-%m-%d}"' in html


def test_gl_upload_and_charts_open_on_the_main_entity_in_its_currency(ledger):
    Entity.objects.create(code="AAA", name="First by code", base_currency="HKD")
    client = Client()
    client.force_login(staff_user("finance_g", "Finance staff"))
    upload = client.get(reverse("reports:gl_upload")).content.decode()
    assert re.search(rf'<option value="{ledger.entity.pk}" selected>MAIN', upload)
    charts = client.get(reverse("reports:charts")).content.decode()
    assert "MAIN · CNY" in charts
    assert charts.count("no data") == 2  # no daily balance, no turnover yet: both charts say so
    other = client.get(reverse("reports:charts"), {"entity": Entity.objects.get(code="AAA").pk}).content.decode()
    assert "AAA · HKD" in other  # the currency follows the entity


def test_a_difference_history_shows_labels_not_codes(day):  # noqa: F811
    from reports.channel.work import difference_investigate, difference_mark_channel_error

    client, user = day.client("finance_h")
    e = day.diff("E")
    difference_investigate(difference_id=e.pk, user=user, note="asked the channel")
    difference_mark_channel_error(difference_id=e.pk, user=user, note="their fee rounding")
    html = client.get(reverse("reports:recon_difference", args=[e.pk])).content.decode()
    history = html[html.index('id="history"') :]
    rows = re.findall(r"<tr><td class=\"nowrap\">.*?</tr>", history, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1:4] for row in rows]
    assert cells == [
        ["found", "–", "amount mismatch (金额不符)"],
        ["status changed", "open (待处理)", "investigating (调查中)"],
        ["owner changed", "–", "finance_h"],  # a name, as it is
        ["status changed", "investigating (调查中)", "resolved (已解决)"],
        ["resolved", "–", "channel error (渠道差错)"],
    ]
