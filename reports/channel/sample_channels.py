"""The two sample channels shipped with the ledger, whose statement files are
in ``reports/fixtures/channels/`` (layouts: docs/channel_recon.md).

Used by the data migration and by tests (after a transactional test
truncated the tables). ``install_sample_channels`` adds what is missing and
never changes a channel finance edited. Clearing accounts are linked in the
admin: they do not exist yet when the migration runs.
"""

from __future__ import annotations

from decimal import Decimal

SAMPLE_CHANNELS = [
    {
        # A bank's statement of our account (银企直联 download): GBK, a title
        # line, separate debit (借方, paid out) and credit (贷方, received)
        # columns, no fee, no status, no footer.
        "code": "banksim",
        "name": "模拟银行 (sample bank, debit/credit columns, GBK)",
        "encoding": "gbk",
        "skip_lines": 1,
        "col_serial": "交易流水号",
        "col_date": "交易日期",
        "col_time": "交易时间",
        "time_format": "%Y%m%d %H%M%S",
        "amount_mode": "debit_credit",
        "col_debit": "借方发生额",
        "col_credit": "贷方发生额",
        "debit_is": "out",
    },
    {
        # A payment company's merchant statement (商户对账单): UTF-8, a '#'
        # header block, one signed amount (positive = collected for us), a fee
        # and a status per line, and a summary footer with count and totals.
        "code": "epaysim",
        "name": "易付通 (sample payment company, signed amounts, UTF-8)",
        "encoding": "utf-8",
        "skip_lines": 4,
        "footer_marker": "#",
        "footer_check": r"总笔数[:：](?P<count>\d+).*收入金额[:：](?P<in_total>-?[\d,]*\d(?:\.\d+)?)"
        r".*支出金额[:：](?P<out_total>-?[\d,]*\d(?:\.\d+)?)"
        r".*手续费合计[:：](?P<fee_total>-?[\d,]*\d(?:\.\d+)?)",
        "col_serial": "交易流水号",
        "col_time": "交易时间",
        "time_format": "%Y-%m-%d %H:%M:%S",
        "amount_mode": "signed",
        "col_amount": "金额(元)",
        "positive_is": "in",
        "col_fee": "手续费(元)",
        "col_status": "交易状态",
        "status_success_values": "成功,SUCCESS",
        "expected_fee_in_rate": Decimal("0.38"),
        "expected_fee_out_fixed": Decimal("1.00"),
    },
]


def install_sample_channels(Channel, Entity) -> None:
    entity = Entity.objects.filter(code="MAIN").first()
    if entity is None:
        return
    for config in SAMPLE_CHANNELS:
        Channel.objects.get_or_create(code=config["code"], defaults={**config, "entity": entity})
