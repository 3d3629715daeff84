"""A member's bill (账单) as PDF (accounts.kernel.pdf), a statement a person
recognises: who and which line, the period, the billing and due dates, the
summary (opening, purchases, repayments, refunds, interest, penalties, other
movements, amount due, minimum due), what is owed by bucket, and every
movement of the period with its totals.

Every figure is the bill's own (it never changes once issued) or the line's
entries of its period (selectors.bill_entries), so the movements' debits
less credits are the closing less the opening on paper as in the ledger.
What is left to pay is printed as of the day the PDF is made, and says so.
"""

from __future__ import annotations

from django.utils import timezone

from accounts.kernel.money import format_amount, format_money
from accounts.kernel.pdf import Column, PdfDocument

from ..documents import FOOTER, _business_type, _member
from . import selectors
from .models import Bill


def bill_filename(bill: Bill) -> str:
    return f"bill-B{bill.pk}-{bill.account.account_no}-{bill.billing_date}.pdf"


def bill_pdf(*, bill: Bill) -> bytes:
    """The bill as PDF bytes."""
    bill = Bill.objects.select_related("account__entity", "account__member", "product").get(pk=bill.pk)
    account, currency = bill.account, bill.currency

    def amount(value) -> str:
        return format_amount(value, currency)

    period = f"{bill.period_start.isoformat()} – {bill.period_end.isoformat()}"
    title = "Credit bill 信用账单"
    doc = PdfDocument(title=f"{title} B{bill.pk} {account.account_no} {bill.billing_date}", footer=FOOTER)
    doc.heading(title, f"B{bill.pk} · {period}")
    doc.fields(
        [
            ("Member 会员", _member(account)),
            ("Entity 会计主体", f"{account.entity.name} ({account.entity.code})"),
            ("Credit line 信用账户", f"{account.account_no} {account.name}".strip()),
            ("Currency 币种", currency),
            ("Period 账单周期", period),
            ("Billing date 账单日", bill.billing_date.isoformat()),
            ("Due date 还款日", bill.due_date.isoformat()),
            ("Credit limit 信用额度", format_money(account.credit_limit, currency)),
            ("Amount due 应还金额", format_money(bill.amount_due, currency)),
            ("Minimum due 最低还款额", format_money(bill.minimum_due, currency)),
        ]
    )
    summary = [
        ("Opening 上期应还", bill.opening),
        ("Purchases 本期消费", bill.purchases),
        ("Repayments 本期还款", -bill.repayments),
        ("Refunds 本期退款", -bill.refunds),
        ("Interest 利息", bill.interest),
        ("Penalties 罚息", bill.penalties),
        ("Other debits 其他借记", bill.other_debits),
        ("Other credits 其他贷记", -bill.other_credits),
    ]
    doc.table(
        [Column("Summary 账单摘要", 3), Column("Amount 金额", 1.2, numeric=True)],
        [[label, amount(value)] for label, value in summary],
        totals=["Amount due 应还金额", amount(bill.amount_due)],
    )
    doc.table(
        [
            Column("Owed at the period's end 期末欠款", 3),
            Column("Principal 本金", 1.2, numeric=True),
            Column("Interest 利息", 1.2, numeric=True),
            Column("Penalty 罚息", 1.2, numeric=True),
        ],
        [["", amount(bill.closing_principal), amount(bill.closing_interest), amount(bill.closing_penalty)]],
    )
    debits = credits = 0
    rows = []
    for entry in selectors.bill_entries(bill):
        if entry.direction == "D":
            debits += entry.amount
        else:
            credits += entry.amount
        rows.append(
            [
                entry.accounting_date.isoformat(),
                f"P{entry.posting_id}",
                _business_type(entry.business_type),
                entry.posting.memo,
                amount(entry.amount) if entry.direction == "D" else "",
                amount(entry.amount) if entry.direction == "C" else "",
            ]
        )
    doc.table(
        [
            Column("Date 日期", 1.1),
            Column("Posting 记账号", 0.9),
            Column("Type 类型", 1.5, wrap=True),
            Column("Memo 摘要", 2.4, wrap=True),
            Column("Charges 支出", 1.1, numeric=True),
            Column("Payments 收入", 1.1, numeric=True),
        ],
        rows or [["", "", "No movements 本期无交易", "", "", ""]],
        totals=["Totals 合计", f"{len(rows)} 笔", "", "", amount(debits), amount(credits)],
    )
    position = selectors.bill_position(bill)
    doc.text(
        f"As of {position.as_of.isoformat()} (printed {timezone.localtime():%Y-%m-%d %H:%M}): "
        f"left to pay 待还 {format_money(position.amount_due_left, currency)}, of the minimum 最低还款额剩余 "
        f"{format_money(position.minimum_due_left, currency)} — {position.status_label}."
    )
    doc.text(
        "Pay the amount due by the due date to owe no interest; paying the minimum avoids the penalty, and "
        "interest runs on the rest from the day after the due date. Charges raise what you owe, payments "
        "lower it. Dates are accounting dates (会计日期), Beijing time.",
        small=True,
    )
    return doc.render()
