"""The demo seeder builds a ledger that holds together, through the services only,
and refuses to run a second time over it."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from accounts.models import Account, AccountStatusChange, Customer, Entity, Member
from postings.agreements.models import Agreement, DebitAttempt
from postings.credit.models import Bill
from postings.models import Entry, Hold, HoldEvent, HoldStatus, Posting
from postings.selectors import account_chain_breaks, identity_totals
from postings.services.calendar import calendar_for

pytestmark = pytest.mark.django_db


def seed(**options):
    out = StringIO()
    call_command("seed_demo", members=20, days=3, seed=1, stdout=out, **options)
    return out.getvalue()


def snapshot():
    return (
        Entity.objects.count(),
        Customer.objects.count(),
        Member.objects.count(),
        Account.objects.count(),
        Posting.objects.count(),
        Entry.objects.count(),
        Hold.objects.count(),
        HoldEvent.objects.count(),
        AccountStatusChange.objects.count(),
        Account.objects.aggregate(b=Sum("balance"), f=Sum("frozen")),
    )


def test_seed_demo_builds_a_ledger_that_holds_together():
    output = seed()

    assert set(Entity.objects.values_list("code", flat=True)) == {"MAIN", "HK"}
    members = Member.objects.filter(member_no__startswith="DEMO")
    assert members.count() == 20
    for member in members:
        assert member.accounts.filter(account_type__code="USER_CASH").count() == 1
    credit_lines = Account.objects.filter(account_type__code="USER_CREDIT")
    assert credit_lines.count() >= 10
    assert credit_lines.values("credit_limit").distinct().count() > 1, "credit limits should vary"
    for entity in Entity.objects.all():
        internal = Account.objects.filter(entity=entity, member__isnull=True)
        assert internal.filter(account_type__code="CHANNEL_CLEARING").count() in (2, 3)
        for code in ("FEE_INCOME", "ESCROW", "COUPON"):
            assert internal.filter(account_type__code=code).count() == 1, (entity.code, code)
        assert members.filter(accounts__entity=entity).exists()

    business_types = set(Posting.objects.values_list("business_type", flat=True))
    assert {
        "recharge",
        "transfer",
        "credit_purchase",
        "withdrawal",
        "guarantee_settlement",
        "reversal",
    } <= business_types
    assert Posting.objects.filter(reverses__isnull=False).exists()
    assert Hold.objects.filter(status=HoldStatus.SETTLED).exists()
    assert Posting.objects.filter(hold_event__isnull=False, business_type="withdrawal").exists()
    assert Entry.objects.filter(posting__business_type="withdrawal", account__account_type__code="FEE_INCOME").exists()
    # Automatic repayments are taken under signed agreements (代扣), hold -> settle.
    taken = DebitAttempt.objects.filter(outcome__in=["taken", "partial"])
    assert taken.exists() and taken.count() == Posting.objects.filter(business_type="agreement_debit").count()
    assert "no_agreement" not in output and "agreement_limit_exceeded" not in output
    # The credit pages have something to show: issued bills of the seeded
    # days, due after the open day, some under a repayment agreement.
    bills = Bill.objects.filter(account__member__member_no__startswith="DEMO")
    assert bills.filter(amount_due__gt=0, purchases__gt=0).exists()
    assert {b.due_date for b in bills} == {
        calendar_for(entity=Entity.objects.get(code="MAIN")).open_date + timedelta(days=9)
    }
    repaying = Agreement.objects.filter(purpose="credit_repayment", payee_account__bills__in=bills)
    assert {"full", "minimum"} <= set(repaying.values_list("repay", flat=True))

    rows = identity_totals()
    assert {(r.entity, r.currency) for r in rows} == {("MAIN", "CNY"), ("HK", "HKD")}
    assert all(row.holds for row in rows), rows
    breaks = [b for account in Account.objects.all() for b in account_chain_breaks(account=account)]
    assert breaks == []
    assert "Identity" in output and "BROKEN" not in output


def test_seed_demo_refuses_a_second_run():
    seed()
    before = snapshot()
    with pytest.raises(CommandError, match="--force"):
        seed()
    assert snapshot() == before


def test_seed_demo_force_adds_a_second_run_beside_the_first():
    seed()
    postings = Posting.objects.count()
    seed(force=True)
    assert Member.objects.filter(member_no__startswith="DEMO02").count() == 20
    assert Posting.objects.count() > postings
    for code in ("FEE_INCOME", "ESCROW", "COUPON"):  # reused, so the posting rules still resolve them
        assert Account.objects.filter(account_type__code=code).count() == 2
    assert all(row.holds for row in identity_totals())


def test_seeded_holds_are_settled_before_their_expiry():
    """The seed books past days at today's clock: an escrow hold whose 15
    days are over by now must not refuse its settlement as hold_expired."""
    out = StringIO()
    call_command("seed_demo", members=10, days=20, seed=1, stdout=out)
    refused = next(line for line in out.getvalue().splitlines() if line.startswith("Requests the ledger refused"))
    assert "hold_expired" not in refused
    assert not HoldEvent.objects.filter(kind=HoldEvent.Kind.EXPIRE).exists()
