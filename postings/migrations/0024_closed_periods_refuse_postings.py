"""A closed period accepts no postings (issue 22 section 2): the calendar
keeps the last closed day (closed_through) and the database refuses a
posting dated on or before it (postings/sql/closed_periods.sql); the period
close's business types (损益结转, 年结)."""

from django.db import migrations, models

from postings.sql import LoadSqlFiles

REVERSE = """
DROP TRIGGER IF EXISTS posting_outside_closed_periods ON postings_posting;
DROP TRIGGER IF EXISTS calendar_closed_through_forward_only ON postings_accountingcalendar;
DROP FUNCTION IF EXISTS ledger_posting_outside_closed_periods();
DROP FUNCTION IF EXISTS ledger_closed_through_forward_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("postings", "0023_red_ink_corrections"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountingcalendar",
            name="closed_through",
            field=models.DateField(blank=True, editable=False, null=True, verbose_name="closed through (已结账至)"),
        ),
        migrations.AlterField(
            model_name="entry",
            name="business_type",
            field=models.CharField(
                choices=[
                    ("recharge", "recharge (充值)"),
                    ("withdrawal", "withdrawal (提现)"),
                    ("transfer", "transfer (转账)"),
                    ("fee", "fee (手续费)"),
                    ("credit_purchase", "credit purchase (信用消费)"),
                    ("credit_repayment", "credit repayment (还款)"),
                    ("agreement_debit", "agreement debit (代扣)"),
                    ("guarantee_settlement", "guarantee settlement (担保交易结算)"),
                    ("refund", "refund (退款)"),
                    ("settlement", "merchant settlement (商户结算: 待结算 → 可用)"),
                    ("channel_settlement", "channel settlement (渠道结算)"),
                    ("coupon", "coupon (红包/券)"),
                    ("adjustment", "adjustment (调账)"),
                    ("opening", "opening balances (期初建账)"),
                    ("reversal", "reversal (冲正)"),
                    ("pl_carry_forward", "profit and loss carry-forward (损益结转)"),
                    ("year_end_close", "year-end close (年结: 本年利润 → 未分配利润)"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="posting",
            name="business_type",
            field=models.CharField(
                choices=[
                    ("recharge", "recharge (充值)"),
                    ("withdrawal", "withdrawal (提现)"),
                    ("transfer", "transfer (转账)"),
                    ("fee", "fee (手续费)"),
                    ("credit_purchase", "credit purchase (信用消费)"),
                    ("credit_repayment", "credit repayment (还款)"),
                    ("agreement_debit", "agreement debit (代扣)"),
                    ("guarantee_settlement", "guarantee settlement (担保交易结算)"),
                    ("refund", "refund (退款)"),
                    ("settlement", "merchant settlement (商户结算: 待结算 → 可用)"),
                    ("channel_settlement", "channel settlement (渠道结算)"),
                    ("coupon", "coupon (红包/券)"),
                    ("adjustment", "adjustment (调账)"),
                    ("opening", "opening balances (期初建账)"),
                    ("reversal", "reversal (冲正)"),
                    ("pl_carry_forward", "profit and loss carry-forward (损益结转)"),
                    ("year_end_close", "year-end close (年结: 本年利润 → 未分配利润)"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="postingrule",
            name="business_type",
            field=models.CharField(
                choices=[
                    ("recharge", "recharge (充值)"),
                    ("withdrawal", "withdrawal (提现)"),
                    ("transfer", "transfer (转账)"),
                    ("fee", "fee (手续费)"),
                    ("credit_purchase", "credit purchase (信用消费)"),
                    ("credit_repayment", "credit repayment (还款)"),
                    ("agreement_debit", "agreement debit (代扣)"),
                    ("guarantee_settlement", "guarantee settlement (担保交易结算)"),
                    ("refund", "refund (退款)"),
                    ("settlement", "merchant settlement (商户结算: 待结算 → 可用)"),
                    ("channel_settlement", "channel settlement (渠道结算)"),
                    ("coupon", "coupon (红包/券)"),
                    ("adjustment", "adjustment (调账)"),
                    ("opening", "opening balances (期初建账)"),
                    ("reversal", "reversal (冲正)"),
                    ("pl_carry_forward", "profit and loss carry-forward (损益结转)"),
                    ("year_end_close", "year-end close (年结: 本年利润 → 未分配利润)"),
                ],
                max_length=32,
                unique=True,
            ),
        ),
        migrations.AlterField(
            model_name="refundpolicy",
            name="business_type",
            field=models.CharField(
                choices=[
                    ("recharge", "recharge (充值)"),
                    ("withdrawal", "withdrawal (提现)"),
                    ("transfer", "transfer (转账)"),
                    ("fee", "fee (手续费)"),
                    ("credit_purchase", "credit purchase (信用消费)"),
                    ("credit_repayment", "credit repayment (还款)"),
                    ("agreement_debit", "agreement debit (代扣)"),
                    ("guarantee_settlement", "guarantee settlement (担保交易结算)"),
                    ("refund", "refund (退款)"),
                    ("settlement", "merchant settlement (商户结算: 待结算 → 可用)"),
                    ("channel_settlement", "channel settlement (渠道结算)"),
                    ("coupon", "coupon (红包/券)"),
                    ("adjustment", "adjustment (调账)"),
                    ("opening", "opening balances (期初建账)"),
                    ("reversal", "reversal (冲正)"),
                    ("pl_carry_forward", "profit and loss carry-forward (损益结转)"),
                    ("year_end_close", "year-end close (年结: 本年利润 → 未分配利润)"),
                ],
                max_length=32,
                unique=True,
            ),
        ),
        LoadSqlFiles(
            {"closed_periods.sql": "506cb12d9b60b94be1e260d68776f693cfc323a7389d13e16473d729e8e429f0"},
            reverse_sql=REVERSE,
        ),
    ]
