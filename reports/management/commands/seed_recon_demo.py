"""Demo channel reconciliation: link the two sample channels to MAIN's demo
clearing accounts, open MAIN's suspense account, and for the last closed
days write each channel's statement from the ledger's own records, with a
few deliberate differences (one record the channel never saw, one line the
ledger never booked, one amount off by 0.50), then import and match them.

The statements go through ``statement_import`` like any upload, so the
pages show real imports, runs and differences. Days that already have a
statement are skipped: running this again changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db.models import Max

from accounts.models import Account, AccountType, Entity
from accounts.selectors import internal_account_for
from accounts.services import account_open
from reports.channel.importing import statement_import
from reports.channel.matching import channel_recon_run
from reports.channel.models import Channel, StatementImport
from reports.channel.sample_channels import install_sample_channels
from reports.eod.models import SheetDay

# sample channel -> the name of the demo clearing account it settles (seed_demo.CHANNELS)
CLEARING = {"banksim": "ICBC clearing (工商银行备付金)", "epaysim": "Third-party pay clearing (第三方支付)"}
ACTOR = "demo"


class Command(BaseCommand):
    help = "Link the sample channels, then import and match demo statements for the last closed days."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=3, help="How many of the last closed days (default 3).")

    def handle(self, *args, days: int, **options):
        main = Entity.objects.filter(code="MAIN").first()
        if main is None:
            return
        install_sample_channels(Channel, Entity)
        channels = []
        for code, name in CLEARING.items():
            channel = Channel.objects.get(code=code)
            clearing = Account.objects.filter(entity=main, name=name, currency=channel.currency).first()
            if clearing is None:
                continue
            if not channel.clearing_accounts.exists():
                channel.clearing_accounts.add(clearing)
            channels.append((channel, clearing))
        suspense_type = AccountType.objects.filter(code="SUSPENSE").first()
        if suspense_type and internal_account_for(entity=main, account_type=suspense_type, currency="CNY") is None:
            account_open(entity=main, account_type=suspense_type, currency="CNY", name="Suspense (待处理差错)")

        last = SheetDay.objects.filter(entity=main).aggregate(day=Max("accounting_date"))["day"]
        if last is None or not channels:
            return
        for offset in range(days - 1, -1, -1):
            day = last - timedelta(days=offset)
            for channel, clearing in channels:
                if StatementImport.objects.filter(channel=channel, statement_date=day).exists():
                    continue
                content = statement_for(channel, clearing, day)
                statement_import(
                    channel=channel,
                    statement_date=day,
                    content=content,
                    imported_by=ACTOR,
                    file_name=f"{channel.code}_{day:%Y%m%d}.csv",
                )
                run = channel_recon_run(channel=channel, recon_date=day, actor=ACTOR)
                self.stdout.write(
                    f"Channel recon {channel.code} {day}: {run.matched_count} matched, "
                    f"{run.long_count} long, {run.short_count} short, {run.mismatch_count} mismatched, "
                    f"{run.pending_count} pending."
                )


def _records(clearing: Account, day: date) -> list[tuple[str, str, Decimal]]:
    """(serial, in/out, amount) of the clearing account's entries of the day that
    carry a channel serial, netted per serial (a reversal carries its original's
    serial; the channel shows what moved, once)."""
    rows = clearing.entries.filter(accounting_date=day).exclude(posting__external_ref="").order_by("serial_no")
    net: dict[str, Decimal] = {}
    for ref, d, amount in rows.values_list("posting__external_ref", "direction", "amount"):
        net[ref] = net.get(ref, Decimal(0)) + (amount if d == "D" else -amount)
    return [(ref, "in" if value > 0 else "out", abs(value)) for ref, value in net.items() if value]


def _lines(channel: Channel, clearing: Account, day: date) -> list[tuple[str, str, Decimal, Decimal]]:
    """The channel's view of the day: our records less the last one (short), the
    second with 0.50 more (amount mismatch), and one line we never booked (long)."""
    records = _records(clearing, day)[:-1]
    lines = []
    for n, (serial, direction, amount) in enumerate(records):
        if n == 1:
            amount += Decimal("0.50")
        rate = channel.expected_fee_in_rate if direction == "in" else channel.expected_fee_out_rate
        fixed = channel.expected_fee_in_fixed if direction == "in" else channel.expected_fee_out_fixed
        fee = (fixed + amount * rate / 100).quantize(Decimal("0.01"))
        lines.append((serial, direction, amount, fee))
    lines.append((f"{channel.code.upper()}{day:%Y%m%d}LONG", "in", Decimal("88.00"), Decimal("0.00")))
    return lines


def statement_for(channel: Channel, clearing: Account, day: date) -> bytes:
    lines = _lines(channel, clearing, day)
    if channel.code == "banksim":
        out = [
            "模拟银行账户交易明细 账号:6222020000001234 币种:人民币",
            "交易日期,交易时间,交易流水号,摘要,借方发生额,贷方发生额,余额,对方户名",
        ]
        for n, (serial, direction, amount, _fee) in enumerate(lines):
            debit, credit = ("", f"{amount:.2f}") if direction == "in" else (f"{amount:.2f}", "")
            out.append(
                f"{day:%Y%m%d},{9 + n % 12:02d}{n % 60:02d}00,{serial},{'充值' if credit else '提现'},"
                f"{debit},{credit},,"
            )
        return ("\r\n".join(out) + "\r\n").encode("gbk")
    out = [
        "#易付通商户对账单",
        "#商户号:888800001234",
        f"#账单日期:{day}",
        "#" + "-" * 40,
        "交易流水号,交易时间,商户订单号,业务类型,金额(元),手续费(元),交易状态",
    ]
    total_in = total_out = fees = Decimal(0)
    for n, (serial, direction, amount, fee) in enumerate(lines):
        signed = amount if direction == "in" else -amount
        out.append(
            f"{serial},{day} {9 + n % 12:02d}:{n % 60:02d}:00,ORD{n:05d},{'收款' if signed > 0 else '付款'},"
            f"{signed:.2f},{fee:.2f},成功"
        )
        total_in += max(signed, Decimal(0))
        total_out += max(-signed, Decimal(0))
        fees += fee
    out += [
        "#" + "-" * 40,
        f"#汇总,总笔数:{len(lines)},收入金额:{total_in:.2f},支出金额:{total_out:.2f},手续费合计:{fees:.2f}",
    ]
    return ("\n".join(out) + "\n").encode("utf-8")
