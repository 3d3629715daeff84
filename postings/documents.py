"""The ledger's documents for people, as PDF (accounts.kernel.pdf): an
account's statement (对账单) for a range of accounting dates, and the
electronic receipt (电子回单) of a posting with its verification code.

A statement is read from the entry chain exactly as the API's JSON and CSV
are (postings.selectors.statement_entries, balance_before_day): the opening
is the balance before the first day, each line's balance is the entry's
``balance_after``, and the closing is the chain's balance after the last day,
so opening + debits/credits = closing on paper as in the ledger.

A receipt's verification code is an HMAC (SHA-256, key RECEIPT_SIGNING_KEY)
of the posting's content: serial number, source system and request number,
business type, entity, currency, dates, memo, external reference and every
leg (account, side, amount). A posting is never edited, so the code printed
on a receipt stays valid; a receipt whose figures were altered, or one made
up, does not verify (receipt_verify, the API's and the staff page's lookup).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from accounts.kernel.money import format_amount, format_money
from accounts.kernel.pdf import Column, PdfDocument
from accounts.models import Account

from .models import BusinessType, Entry, Posting
from .selectors import balance_before_day, statement_entries

FOOTER = "Ledger core · 账务系统"
CODE_LENGTH = 20  # hex digits of the HMAC printed: 80 bits


@dataclass(frozen=True)
class StatementFigures:
    opening: Decimal
    closing: Decimal
    debit_total: Decimal
    credit_total: Decimal
    entry_count: int


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def _business_type(code: str) -> str:
    try:
        return BusinessType(code).label
    except ValueError:
        return code


def _member(account: Account) -> str:
    if account.member_id is None:
        return "— (internal account 内部户)"
    return f"{account.member.name} ({account.member.member_no})"


def _side_note(account: Account) -> str:
    raises = "debits" if account.normal_side == "D" else "credits"
    lowers = "credits" if account.normal_side == "D" else "debits"
    side = "借" if account.normal_side == "D" else "贷"
    return (
        f"Balance on the {'debit' if account.normal_side == 'D' else 'credit'} side ({side}方余额): "
        f"{raises} raise it, {lowers} lower it. Amounts in {account.currency}. "
        "Times are Beijing time; the date is the accounting date (会计日期)."
    )


def statement_pdf(*, account: Account, date_from: date, date_to: date, title: str | None = None):
    """The statement of ``account`` for accounting dates ``date_from`` to
    ``date_to`` (inclusive) as PDF bytes, with the figures printed on it."""
    account = Account.objects.select_related("entity", "member", "account_type").get(pk=account.pk)
    currency = account.currency
    opening = balance_before_day(account=account, accounting_date=date_from)
    closing = balance_before_day(account=account, accounting_date=date_to + timedelta(days=1))
    totals = {"D": Decimal(0), "C": Decimal(0)}
    count = 0

    def rows():
        nonlocal count
        entries = statement_entries(account=account, date_from=date_from, date_to=date_to).select_related("posting")
        for entry in entries.iterator(chunk_size=2000):
            totals[entry.direction] += entry.amount
            count += 1
            amount = format_amount(entry.amount, currency)
            yield [
                entry.accounting_date.isoformat(),
                _local(entry.created_at),
                f"E{entry.serial_no}",
                f"P{entry.posting_id}",
                _business_type(entry.business_type),
                entry.posting.memo,
                amount if entry.direction == "D" else "",
                amount if entry.direction == "C" else "",
                format_amount(entry.balance_after, currency),
            ]

    title = title or "Account statement 账户对账单"
    doc = PdfDocument(title=f"{title} {account.account_no} {date_from}–{date_to}", footer=FOOTER, wide=True)
    doc.heading(title, f"{date_from.isoformat()} – {date_to.isoformat()}")
    doc.fields(
        [
            ("Entity 会计主体", f"{account.entity.name} ({account.entity.code})"),
            ("Member 会员", _member(account)),
            ("Account 账户", f"{account.account_no} {account.name}".strip()),
            ("Account type 账户类型", f"{account.account_type.name} ({account.account_type.subject_code})"),
            ("Currency 币种", currency),
            ("Period 期间", f"{date_from.isoformat()} – {date_to.isoformat()}"),
            ("Opening balance 期初余额", format_money(opening, currency)),
            ("Closing balance 期末余额", format_money(closing, currency)),
        ]
    )
    columns = [
        Column("Date 日期", 1.15),
        Column("Booked at 记账时间", 1.75),
        Column("Entry 流水号", 0.9),
        Column("Posting 记账号", 0.9),
        Column("Business type 业务类型", 1.7, wrap=True),
        Column("Memo 摘要", 2.4, wrap=True),
        Column("Debit 借方", 1.2, numeric=True),
        Column("Credit 贷方", 1.2, numeric=True),
        Column("Balance 余额", 1.3, numeric=True),
    ]
    opening_row = ["", "", "", "", "Opening balance 期初余额", "", "", "", format_amount(opening, currency)]
    # Every row is read before the totals line is written (the table holds
    # its rows in memory anyway, to lay them out).
    lines = [opening_row, *rows()]
    doc.table(
        columns,
        lines,
        totals=[
            "Totals 合计",
            f"{count} entries 笔",
            "",
            "",
            "Closing balance 期末余额",
            "",
            format_amount(totals["D"], currency),
            format_amount(totals["C"], currency),
            format_amount(closing, currency),
        ],
    )
    doc.text(_side_note(account), small=True)
    figures = StatementFigures(opening, closing, totals["D"], totals["C"], count)
    return doc.render(), figures


# ---------------------------------------------------------------- receipts ----


def _receipt_content(posting: Posting, entries: list[Entry]) -> bytes:
    content = {
        "v": 1,
        "serial_no": posting.serial_no,
        "source_system": posting.source_system,
        "request_no": posting.request_no,
        "business_type": posting.business_type,
        "entity": posting.entity.code,
        "currency": posting.currency,
        "accounting_date": posting.accounting_date.isoformat(),
        "created_at": posting.created_at.isoformat(),
        "memo": posting.memo,
        "external_ref": posting.external_ref,
        "legs": sorted(
            [e.serial_no, e.account.account_no, e.direction, format(e.amount, "f"), e.currency] for e in entries
        ),
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _entries(posting: Posting) -> list[Entry]:
    return list(
        posting.entries.select_related("account", "account__member", "account__account_type").order_by("serial_no")
    )


def receipt_code(posting: Posting, entries: list[Entry] | None = None) -> str:
    """The verification code printed on the posting's receipt: the first
    80 bits of the HMAC of its content, as five groups of four (A1B2-...)."""
    entries = _entries(posting) if entries is None else entries
    key = settings.RECEIPT_SIGNING_KEY.encode()
    digest = hmac.new(key, _receipt_content(posting, entries), hashlib.sha256).hexdigest()[:CODE_LENGTH].upper()
    return "-".join(digest[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def receipt_verify(*, serial_no: int, code: str) -> Posting | None:
    """The posting whose receipt carries ``code`` (dashes, spaces and case
    aside), or None: no such posting, or not its code."""
    posting = Posting.objects.select_related("entity").filter(serial_no=serial_no).first()
    if posting is None:
        return None
    given = re.sub(r"[\s-]", "", code or "").upper()
    expected = receipt_code(posting).replace("-", "")
    return posting if hmac.compare_digest(given.encode(), expected.encode()) else None


def receipt_pdf(*, posting: Posting) -> bytes:
    """The electronic receipt (电子回单) of ``posting`` as PDF bytes."""
    posting = Posting.objects.select_related("entity", "reverses").get(pk=posting.pk)
    entries = _entries(posting)
    currency = posting.currency
    amount = sum((e.amount for e in entries if e.direction == "D"), Decimal(0))
    doc = PdfDocument(title=f"Electronic receipt 电子回单 P{posting.serial_no}", footer=FOOTER)
    doc.heading("Electronic receipt 电子回单", f"{posting.entity.name} ({posting.entity.code})")
    pairs = [
        ("Receipt no. 回单编号", f"P{posting.serial_no}"),
        ("Business type 业务类型", _business_type(posting.business_type)),
        ("Accounting date 会计日期", posting.accounting_date.isoformat()),
        ("Booked at 记账时间", _local(posting.created_at)),
        ("Amount 金额", format_money(amount, currency)),
        ("Currency 币种", currency),
        ("Request no. 请求号", f"{posting.source_system} / {posting.request_no}"),
        ("External ref. 外部流水号", posting.external_ref or "—"),
        ("Memo 摘要", posting.memo or "—"),
    ]
    if posting.reverses_id:
        pairs.append(("Reverses 冲正", f"P{posting.reverses_id}"))
    doc.fields(pairs)
    doc.table(
        [
            Column("Side 借贷", 0.8),
            Column("Account 账号", 1.6),
            Column("Account name 户名", 1.8, wrap=True),
            Column("Member 会员", 1.8, wrap=True),
            Column("Entry 流水号", 0.9),
            Column("Amount 金额", 1.2, numeric=True),
        ],
        [
            [
                "Debit 借" if e.direction == "D" else "Credit 贷",
                e.account.account_no,
                e.account.name or e.account.account_type.name,
                _member(e.account),
                f"E{e.serial_no}",
                format_amount(e.amount, e.currency),
            ]
            for e in entries
        ],
    )
    code = receipt_code(posting, entries)
    doc.fields([("Verification code 验证码", code)], columns=1)
    doc.text(
        "This receipt is made by the ledger from the posting itself. To check it, ask the ledger with the receipt "
        f"number and the code: GET /api/v1/postings/{posting.serial_no}/receipt/verify?code={code}, or the staff page "
        "“Verify a receipt 回单验证”. 本回单由账务系统根据记账记录生成，可凭回单编号与验证码向账务系统查验。",
        small=True,
    )
    return doc.render()
