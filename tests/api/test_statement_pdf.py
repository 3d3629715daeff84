"""GET /accounts/{no}/statement as PDF, and a posting's electronic receipt
(电子回单) with its verification code: each PDF read back with pdftotext and
its figures checked against the ledger (opening + entries = closing, each
running balance the one before plus or minus the line's amount)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from postings.documents import receipt_code
from postings.models import Entry
from postings.services.calendar import day_cut
from tests import pdftext
from tests.reports.eod_books import open_books_on

from .conftest import error_of, transfer_body

pytestmark = pytest.mark.django_db

D1, D2, D3 = date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31)


def _statement(caller, account, date_from, date_to, **extra):
    params = {"from": date_from.isoformat(), "to": date_to.isoformat()}
    if "HTTP_ACCEPT" not in extra:
        params["format"] = "pdf"
    r = caller.get(f"accounts/{account.account_no}/statement", params, **extra)
    assert r.status_code == 200, r.content[:300]
    assert r["Content-Type"] == "application/pdf"
    assert r["Content-Disposition"].startswith("attachment; filename=")
    return r.content


@pytest.fixture
def three_days(ledger, trade):
    """Alice's wallet over three accounting days: recharges and transfers to
    Bob, some before the range, some in it, some after."""
    open_books_on(ledger.entity, D1)
    alice, bob = ledger.cash(ledger.member("Alice 张")), ledger.cash(ledger.member("Bob"))
    ledger.recharge(alice, "1000.00")
    day_cut(entity=ledger.entity, day=D1)
    ledger.recharge(alice, "250.50")
    for i, amount in enumerate(["100.00", "35.25", "1000.00"]):
        body = transfer_body(alice, bob, amount, request_no=f"pdf-{i}", memo=f"order {i}")
        assert trade.post("postings", body).status_code == 201
    day_cut(entity=ledger.entity, day=D2)
    ledger.recharge(alice, "9.99")
    return alice, bob


@pytest.mark.parametrize("how", [{}, {"HTTP_ACCEPT": "application/pdf"}])
def test_the_pdf_statement_chains_from_opening_to_closing(three_days, ledger, trade, how):
    alice, _ = three_days
    pdf = _statement(trade, alice, D2, D2, **how)
    paper = pdftext.statement(pdf)

    in_range = list(Entry.objects.filter(account=alice, accounting_date=D2).order_by("account_seq"))
    assert paper.opening == Decimal("1000.00")  # the D1 recharge, before the range
    assert [line[0] for line in paper.lines] == [e.serial_no for e in in_range]
    running = paper.opening
    for (_, debit, credit, balance), entry in zip(paper.lines, in_range):
        assert (debit if entry.direction == "D" else credit) == entry.amount
        assert (credit if entry.direction == "D" else debit) is None
        running += (credit or 0) - (debit or 0)  # a wallet: credit-normal
        assert balance == running == entry.balance_after
    assert paper.closing == running == Decimal("115.25")  # 1,000.00 + 250.50 - 1,135.25
    assert (paper.debit_total, paper.credit_total, paper.entry_count) == (Decimal("1135.25"), Decimal("250.50"), 4)

    text = pdftext.squeezed(pdf)
    assert f"Alice 张 ({alice.member.member_no})" in text
    assert alice.account_no in text and "Currency 币种 CNY" in text
    assert "Opening balance 期初余额 CNY 1,000.00" in text
    assert "Closing balance 期末余额 CNY 115.25" in text
    assert "transfer (转账)" in text and "order 2" in text
    assert f"Period 期间 {D2} – {D2}" in text and "Page 1 of 1" in text


def test_the_pdf_of_the_whole_range_ends_on_the_ledger_balance(three_days, ledger, trade):
    alice, _ = three_days
    paper = pdftext.statement(_statement(trade, alice, D1 - timedelta(days=5), D3 + timedelta(days=5)))
    assert paper.opening == 0
    assert paper.entry_count == len(paper.lines) == Entry.objects.filter(account=alice).count() == 6
    assert paper.closing == paper.lines[-1][3] == ledger.balance(alice)
    assert paper.opening + paper.credit_total - paper.debit_total == paper.closing


def test_a_long_statement_runs_over_numbered_pages(ledger, trade):
    alice = ledger.cash(ledger.member("Alice"))
    for _ in range(70):
        ledger.recharge(alice, "1.01")
    day = Entry.objects.filter(account=alice).latest("serial_no").accounting_date
    pdf = _statement(trade, alice, day, day)
    paper = pdftext.statement(pdf)
    assert len(paper.lines) == 70 and paper.closing == Decimal("70.70") == ledger.balance(alice)
    pages = pdftext.pages(pdf)
    assert pages >= 2 and f"Page {pages} of {pages}" in pdftext.text(pdf)


@pytest.mark.parametrize("scopes,status", [(["read"], 200), (["post", "hold", "withdraw", "admin"], 403)])
def test_only_the_read_scope_gets_the_pdf(book, callers, scopes, status):
    r = callers("risk", scopes).get(
        f"accounts/{book.alice.account_no}/statement", {"from": "2000-01-01", "to": "2999-01-01", "format": "pdf"}
    )
    assert r.status_code == status
    if status == 403:
        error_of(r, 403, "forbidden")


# ---------------------------------------------------------------- receipts ----


def test_a_postings_receipt_names_its_parties_amounts_and_code(book, trade):
    body = transfer_body(book.alice, book.bob, "123.45", request_no="rcpt-1", memo="dinner 晚餐")
    serial = trade.post("postings", body).json()["serial_no"]
    r = trade.get(f"postings/{serial}/receipt")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    text = pdftext.squeezed(r.content)
    from postings.models import Posting

    posting = Posting.objects.get(pk=serial)
    code = receipt_code(posting)
    assert "Electronic receipt 电子回单" in text
    assert f"Receipt no. 回单编号 P{serial}" in text
    assert "Amount 金额 CNY 123.45" in text
    assert "Request no. 请求号 trade / rcpt-1" in text
    assert "Memo 摘要 dinner 晚餐" in text
    assert "Business type 业务类型 transfer (转账)" in text
    assert f"Accounting date 会计日期 {posting.accounting_date}" in text
    for account in (book.alice, book.bob):
        assert account.account_no in text and f"({account.member.member_no})" in text
    assert "Debit 借" in text and "Credit 贷" in text
    assert f"Verification code 验证码 {code}" in text

    verify = trade.get(f"postings/{serial}/receipt/verify", {"code": code.lower().replace("-", " ")})
    assert verify.json() == {"serial_no": serial, "valid": True}


def test_a_code_that_is_not_the_postings_does_not_verify(book, trade):
    first = trade.post("postings", transfer_body(book.alice, book.bob, "1.00", request_no="v-1")).json()["serial_no"]
    second = trade.post("postings", transfer_body(book.alice, book.bob, "1.00", request_no="v-2")).json()["serial_no"]
    from postings.models import Posting

    code = receipt_code(Posting.objects.get(pk=first))
    assert trade.get(f"postings/{second}/receipt/verify", {"code": code}).json()["valid"] is False
    tampered = ("0" if code[0] != "0" else "1") + code[1:]
    assert trade.get(f"postings/{first}/receipt/verify", {"code": tampered}).json()["valid"] is False
    error_of(trade.get("postings/999999999/receipt/verify", {"code": code}), 404, "not_found")


def test_the_code_depends_on_the_server_key(book, trade, settings):
    serial = trade.post("postings", transfer_body(book.alice, book.bob, "1.00")).json()["serial_no"]
    from postings.models import Posting

    posting = Posting.objects.get(pk=serial)
    code = receipt_code(posting)
    settings.RECEIPT_SIGNING_KEY = "another key"
    assert receipt_code(posting) != code
    assert trade.get(f"postings/{serial}/receipt/verify", {"code": code}).json()["valid"] is False


def test_receipt_errors(book, trade, callers):
    error_of(trade.get("postings/999999999/receipt"), 404, "not_found")
    error_of(trade.get("postings/1/receipt/verify"), 400, "validation_error")
    error_of(callers("pay", ["post"]).get("postings/1/receipt"), 403, "forbidden")
