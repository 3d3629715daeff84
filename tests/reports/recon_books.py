"""Helpers of the channel reconciliation tests: the sample channels, statement
files of the sample payment company written from rows, and ledger records
carrying a channel serial number."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from accounts.models import Entity
from postings.services import Leg, posting_create, posting_create_by_rule
from reports.channel.models import Channel
from reports.channel.sample_channels import install_sample_channels

D = Decimal
FIXTURES = Path(settings.BASE_DIR) / "reports" / "fixtures" / "channels"
_requests = itertools.count(1)


def sample_channel(code: str, clearing=None) -> Channel:
    install_sample_channels(Channel, Entity)
    channel = Channel.objects.get(code=code)
    if clearing is not None:
        channel.clearing_accounts.add(clearing)
    return channel


def sample_file(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def epay_file(day, rows) -> bytes:
    """The sample payment company's statement. rows: (serial, signed amount, fee[, status])."""
    out = [
        "#易付通商户对账单",
        "#商户号:888800001234",
        f"#账单日期:{day}",
        "#" + "-" * 40,
        "交易流水号,交易时间,商户订单号,业务类型,金额(元),手续费(元),交易状态",
    ]
    total_in, total_out, fees = D(0), D(0), D(0)
    for serial, amount, fee, *status in rows:
        status = status[0] if status else "成功"
        kind = "付款" if amount.startswith("-") else "收款"
        out.append(f"{serial},{day} 10:00:00,ORD-{serial},{kind},{amount},{fee},{status}")
        if status == "成功":
            value = D(amount)
            total_in += max(value, D(0))
            total_out += max(-value, D(0))
            fees += D(fee)
    out += [
        "#" + "-" * 40,
        f"#汇总,总笔数:{len(rows)},收入金额:{total_in:.2f},支出金额:{total_out:.2f},手续费合计:{fees:.2f}",
    ]
    return ("\n".join(out) + "\n").encode("utf-8")


def recharge(ledger, wallet, amount: str, serial: str):
    """Money in through the channel: Dr clearing / Cr member cash, with the channel's serial."""
    return posting_create_by_rule(
        business_type="recharge",
        request_no=f"recon-rc-{next(_requests)}",
        params={
            "member_account": wallet.account_no,
            "channel_account": ledger.channel().account_no,
            "amount": amount,
            "channel_serial_no": serial,
        },
        posted_by="test",
    )


def payout(ledger, wallet, amount: str, serial: str):
    """Money out through the channel: Dr member cash / Cr clearing, with the channel's serial."""
    return posting_create(
        request_no=f"recon-po-{next(_requests)}",
        business_type="withdrawal",
        legs=[Leg.debit(wallet.account_no, amount), Leg.credit(ledger.channel().account_no, amount)],
        posted_by="test",
        external_ref=serial,
    )
