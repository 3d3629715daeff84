"""The credit product's beat job: a thin shell over its service, safe to
run twice (a bill is unique per line and period end). The daily accruals
are a step of the end of day (reports.eod), which has its own job."""

from celery import shared_task

from . import services


@shared_task(name="postings.credit.tasks.bills_issue_due")
def bills_issue_due() -> list[str]:
    """Issue the bills whose billing date has come (账单日); "B<id> <account> <amount due>" each."""
    return [f"B{b.pk} {b.account.account_no} {b.amount_due:.2f}" for b in services.bills_issue_due()]


@shared_task(name="postings.credit.tasks.bills_autorepay_due")
def bills_autorepay_due() -> list[str]:
    """Repay the bills due today (and the retries) under their credit
    repayment agreements; "B<id> <request no> <outcome> <taken>/<asked>" each."""
    return [
        f"B{a.request_no.split('-')[1]} {a.request_no} {a.outcome} {a.amount_taken:.2f}/{a.amount_asked:.2f}"
        for a in services.bills_autorepay_due()
    ]
