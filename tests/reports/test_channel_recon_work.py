"""Working reconciliation differences (reports.channel.work), on one day of the
sample payment company:

=======  ===================  ==========  ===============================
serial   ledger               statement   difference
=======  ===================  ==========  ===============================
A        recharge 100.00      +100.00     matched
C        -                    +30.00      long +30: the recharge we missed
E        recharge  40.00      +45.00      amount mismatch +5
F        recharge  60.00      -           short (or pending) -60
=======  ===================  ==========  ===============================

C is resolved by an adjusting posting (maker-checker): Dr clearing 30 /
Cr the member's cash 30. F is written off to suspense: Cr clearing 60 /
Dr suspense 60. E is marked as the channel's error.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection

from accounts.kernel.errors import IllegalTransition, LedgerValidationError
from accounts.models import AccountType
from accounts.services import account_open
from postings.models import Entry, Posting
from postings.selectors import account_chain_breaks, identity_totals
from reports.channel.importing import statement_import
from reports.channel.matching import channel_recon_run
from reports.channel.models import Difference, DifferenceEvent, DifferenceProposal
from reports.channel.selectors import difference_history, proposals_awaiting_approval
from reports.channel.work import (
    NotAllowed,
    ProposalMismatch,
    ProposalPending,
    SamePerson,
    SuspenseNotConfigured,
    adjustment_propose,
    difference_assign,
    difference_investigate,
    difference_mark_channel_error,
    proposal_approve,
    proposal_reject,
    write_off_propose,
)
from tests.postings.test_concurrency import run_parallel

from .eod_books import open_books_on
from .recon_books import D, epay_file, recharge, sample_channel

pytestmark = pytest.mark.django_db


def staff(username: str, *, may_work: bool = True) -> User:
    user = User.objects.create_user(username, password="password", is_staff=True)
    if may_work:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="reports", codename="work_difference"))
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions


def suspense(ledger):
    account_type, _ = AccountType.objects.get_or_create(
        code="SUSPENSE",
        defaults={"name": "Suspense", "category": "internal", "subject_code": "1901", "allow_negative": True},
    )
    return account_open(entity=ledger.entity, account_type=account_type, currency="CNY")


class Day:
    def __init__(self, ledger):
        from postings.selectors import current_accounting_date

        self.ledger = ledger
        self.day = current_accounting_date(entity=ledger.entity)
        open_books_on(ledger.entity, self.day)
        self.clearing = ledger.channel()
        self.channel = sample_channel("epaysim", clearing=self.clearing)
        self.wallet = ledger.cash()
        recharge(ledger, self.wallet, "100.00", "A")
        recharge(ledger, self.wallet, "40.00", "E")
        recharge(ledger, self.wallet, "60.00", "F")
        statement_import(
            channel=self.channel,
            statement_date=self.day,
            file_name="d.csv",
            imported_by="finance",
            content=epay_file(self.day, [("A", "100.00", "0.38"), ("C", "30.00", "0.11"), ("E", "45.00", "0.17")]),
        )
        channel_recon_run(channel=self.channel, recon_date=self.day)
        self.maker, self.checker = staff("maker"), staff("checker")

    @staticmethod
    def diff(serial: str) -> Difference:
        return Difference.objects.get(serial_no=serial)

    def assert_books_true(self):
        assert all(t.holds for t in identity_totals()), identity_totals()
        for account in (self.clearing, self.wallet):
            assert account_chain_breaks(account=self.ledger.fresh(account)) == []


def history(diff: Difference):
    return list(difference_history(difference=diff).values_list("kind", "from_value", "to_value", "actor"))


@pytest.fixture
def day(ledger):
    return Day(ledger)


def test_the_day_has_the_differences_to_work(day):
    assert {d.serial_no: d.difference for d in Difference.objects.all()} == {"C": D("30"), "E": D("5"), "F": D("-60")}


def test_an_adjusting_posting_needs_two_people_posts_once_and_keeps_the_books_true(day, ledger):
    long = day.diff("C")
    clearing_before, wallet_before = ledger.balance(day.clearing), ledger.balance(day.wallet)
    difference_investigate(difference_id=long.pk, user=day.maker, note="member says she paid 30")
    proposal = adjustment_propose(
        difference_id=long.pk,
        user=day.maker,
        amount="30.00",
        direction="debit",
        counter_account_no=day.wallet.account_no,
        memo="recharge C not booked",
    )
    assert list(proposals_awaiting_approval()) == [proposal]

    with pytest.raises(SamePerson) as refused:
        proposal_approve(proposal_id=proposal.pk, user=day.maker)
    assert refused.value.code == "same_person"
    assert not Posting.objects.filter(business_type="adjustment").exists()

    approved = proposal_approve(proposal_id=proposal.pk, user=day.checker, note="checked the slip")
    assert approved.replayed is False
    again = proposal_approve(proposal_id=proposal.pk, user=day.checker)
    assert again.replayed is True and again.posting_id == approved.posting_id
    posting = Posting.objects.get(business_type="adjustment")
    assert (posting.source_system, posting.request_no) == ("recon", f"recon-D{long.pk}-P{proposal.pk}")
    assert sorted(Entry.objects.filter(posting=posting).values_list("account_id", "direction", "amount")) == sorted(
        [(day.clearing.pk, "D", D("30")), (day.wallet.pk, "C", D("30"))]
    )

    long.refresh_from_db()
    assert (long.status, long.resolution, long.resolution_posting_id, long.resolved_by) == (
        "resolved",
        "adjusting_posting",
        posting.pk,
        "checker",
    )
    # Dr lowers the credit-normal clearing account; Cr raises the member's cash.
    assert ledger.balance(day.clearing) == clearing_before - 30
    assert ledger.balance(day.wallet) == wallet_before + 30
    day.assert_books_true()
    assert history(long) == [
        ("found", "", "long", "system:channel-recon"),
        ("status", "open", "investigating", "maker"),
        ("owner", "", "maker", "maker"),
        ("proposed", "", f"P{proposal.pk} adjusting_posting", "maker"),
        ("approved", "", f"P{proposal.pk} posting {posting.pk}", "checker"),
        ("status", "investigating", "resolved", "checker"),
        ("resolved", "", "adjusting_posting", "checker"),
    ]
    # The adjustment is ours alone: a re-run of the day does not see it as a difference.
    channel_recon_run(channel=day.channel, recon_date=day.day)
    assert Difference.objects.count() == 3
    with pytest.raises(IllegalTransition):
        adjustment_propose(
            difference_id=long.pk,
            user=day.maker,
            amount="30.00",
            direction="D",
            counter_account_no=day.wallet.account_no,
            memo="again",
        )


def test_a_proposal_must_be_the_difference_one_at_a_time_and_a_rejected_one_can_be_replaced(day, ledger):
    mismatch = day.diff("E")
    kwargs = dict(difference_id=mismatch.pk, user=day.maker, counter_account_no=day.wallet.account_no, memo="E")
    with pytest.raises(ProposalMismatch):
        adjustment_propose(amount="5.00", direction="C", **kwargs)  # the wrong side
    with pytest.raises(ProposalMismatch):
        adjustment_propose(amount="4.00", direction="D", **kwargs)  # not the whole difference
    first = adjustment_propose(amount="5.00", direction="D", **kwargs)
    with pytest.raises(ProposalPending):
        adjustment_propose(amount="5.00", direction="D", **kwargs)
    with pytest.raises(LedgerValidationError):
        proposal_reject(proposal_id=first.pk, user=day.checker, note=" ")
    proposal_reject(proposal_id=first.pk, user=day.checker, note="wrong member")
    with pytest.raises(IllegalTransition):
        proposal_approve(proposal_id=first.pk, user=day.checker)
    second = adjustment_propose(amount="5.00", direction="D", **kwargs)
    proposal_approve(proposal_id=second.pk, user=day.checker)
    assert list(DifferenceProposal.objects.order_by("id").values_list("status", "decided_by__username")) == [
        ("rejected", "checker"),
        ("approved", "checker"),
    ]
    mismatch.refresh_from_db()
    assert (mismatch.status, mismatch.resolution) == ("resolved", "adjusting_posting")
    assert Posting.objects.filter(business_type="adjustment").count() == 1
    day.assert_books_true()


def test_an_adjustment_against_another_entity_or_currency_is_refused_when_proposed(day, ledger):
    """Refused at the proposal, naming the account, not later at approval."""
    from accounts.kernel.errors import CurrencyMismatch
    from accounts.models import Entity
    from postings.exceptions import CrossEntityPosting

    mismatch = day.diff("E")
    hk = Entity.objects.create(code="HK", name="HK payments", base_currency="CNY")
    elsewhere, dollars = ledger.cash(entity=hk), ledger.cash(currency="USD")
    kwargs = dict(difference_id=mismatch.pk, user=day.maker, amount="5.00", direction="D", memo="E")
    with pytest.raises(CrossEntityPosting, match=elsewhere.account_no):
        adjustment_propose(counter_account_no=elsewhere.account_no, **kwargs)
    with pytest.raises(CurrencyMismatch, match=f"{dollars.account_no} is a USD account"):
        adjustment_propose(counter_account_no=dollars.account_no, **kwargs)
    assert not DifferenceProposal.objects.exists()
    adjustment_propose(counter_account_no=day.wallet.account_no, **kwargs)  # the same in its own books is fine


def test_a_write_off_goes_to_suspense_with_approval(day, ledger):
    short = day.diff("F")
    with pytest.raises(SuspenseNotConfigured):
        write_off_propose(difference_id=short.pk, user=day.maker, memo="lost in transit")
    account = suspense(ledger)
    proposal = write_off_propose(difference_id=short.pk, user=day.maker, memo="lost in transit")
    assert (proposal.direction, proposal.amount, proposal.counter_account_id) == ("C", D("60"), account.pk)
    with pytest.raises(SamePerson):
        proposal_approve(proposal_id=proposal.pk, user=day.maker)
    proposal_approve(proposal_id=proposal.pk, user=day.checker)
    short.refresh_from_db()
    assert (short.status, short.resolution) == ("resolved", "write_off")
    entries = Entry.objects.filter(posting=short.resolution_posting)
    assert sorted(entries.values_list("account_id", "direction", "amount")) == sorted(
        [(day.clearing.pk, "C", D("60")), (account.pk, "D", D("60"))]
    )
    assert ledger.balance(account) == D("-60")  # a debit on a credit-normal internal account
    day.assert_books_true()
    assert account_chain_breaks(account=ledger.fresh(account)) == []


def test_a_channel_error_needs_a_note_and_posts_nothing(day):
    mismatch = day.diff("E")
    with pytest.raises(LedgerValidationError):
        difference_mark_channel_error(difference_id=mismatch.pk, user=day.maker, note="")
    difference_mark_channel_error(difference_id=mismatch.pk, user=day.maker, note="channel double-charged 5.00")
    mismatch.refresh_from_db()
    assert (mismatch.status, mismatch.resolution, mismatch.resolution_posting_id, mismatch.note) == (
        "resolved",
        "channel_error",
        None,
        "channel double-charged 5.00",
    )
    assert not Posting.objects.filter(business_type="adjustment").exists()
    assert history(mismatch)[-2:] == [
        ("status", "open", "resolved", "maker"),
        ("resolved", "", "channel_error", "maker"),
    ]


def test_illegal_transitions_are_refused_and_write_nothing(day):
    diff = day.diff("C")
    difference_investigate(difference_id=diff.pk, user=day.maker)
    events = DifferenceEvent.objects.count()
    with pytest.raises(IllegalTransition) as refused:
        difference_investigate(difference_id=diff.pk, user=day.maker)
    assert refused.value.fields == {
        "difference_id": diff.pk,
        "from_status": "investigating",
        "to_status": "investigating",
    }
    difference_mark_channel_error(difference_id=diff.pk, user=day.maker, note="not ours")
    for attempt in (
        lambda: difference_investigate(difference_id=diff.pk, user=day.maker),
        lambda: difference_mark_channel_error(difference_id=diff.pk, user=day.maker, note="again"),
        lambda: difference_assign(difference_id=diff.pk, owner=day.checker, user=day.maker),
        lambda: write_off_propose(difference_id=diff.pk, user=day.maker, memo="x"),
    ):
        with pytest.raises(IllegalTransition):
            attempt()
    assert DifferenceEvent.objects.count() == events + 2  # status + resolved of the channel error


def test_owner_changes_are_recorded(day):
    diff = day.diff("F")
    difference_assign(difference_id=diff.pk, owner=day.maker, user=day.checker, note="yours")
    difference_assign(difference_id=diff.pk, owner=day.maker, user=day.checker)  # no change, no event
    difference_assign(difference_id=diff.pk, owner=day.checker, user=day.checker)
    difference_assign(difference_id=diff.pk, owner=None, user=day.checker)
    assert history(diff)[1:] == [
        ("owner", "", "maker", "checker"),
        ("owner", "maker", "checker", "checker"),
        ("owner", "checker", "", "checker"),
    ]
    with pytest.raises(LedgerValidationError):
        difference_assign(difference_id=diff.pk, owner=staff("clerk", may_work=False), user=day.checker)


def test_a_user_without_the_permission_is_refused(day, ledger):
    clerk = staff("clerk", may_work=False)
    diff = day.diff("C")
    proposal = adjustment_propose(
        difference_id=diff.pk,
        user=day.maker,
        amount="30",
        direction="D",
        counter_account_no=day.wallet.account_no,
        memo="C",
    )
    events = DifferenceEvent.objects.count()
    for attempt in (
        lambda: difference_investigate(difference_id=diff.pk, user=clerk),
        lambda: difference_assign(difference_id=diff.pk, owner=clerk, user=clerk),
        lambda: difference_mark_channel_error(difference_id=diff.pk, user=clerk, note="x"),
        lambda: adjustment_propose(
            difference_id=diff.pk,
            user=clerk,
            amount="30",
            direction="D",
            counter_account_no=day.wallet.account_no,
            memo="C",
        ),
        lambda: write_off_propose(difference_id=diff.pk, user=clerk, memo="x"),
        lambda: proposal_approve(proposal_id=proposal.pk, user=clerk),
        lambda: proposal_reject(proposal_id=proposal.pk, user=clerk, note="no"),
    ):
        with pytest.raises(NotAllowed) as refused:
            attempt()
        assert refused.value.code == "forbidden"
    assert DifferenceEvent.objects.count() == events
    assert not Posting.objects.filter(business_type="adjustment").exists()


@pytest.mark.django_db(transaction=True)
def test_two_checkers_approving_at_once_post_once(ledger):
    day = Day(ledger)
    diff = day.diff("C")
    other = staff("checker2")
    proposal = adjustment_propose(
        difference_id=diff.pk,
        user=day.maker,
        amount="30",
        direction="D",
        counter_account_no=day.wallet.account_no,
        memo="C",
    )
    checkers = [day.checker, other]

    results = run_parallel(2, lambda i: proposal_approve(proposal_id=proposal.pk, user=checkers[i]))

    assert not any(isinstance(r, BaseException) for r in results), results
    assert sorted(r.replayed for r in results) == [False, True]
    assert len({r.posting_id for r in results}) == 1
    assert Posting.objects.filter(business_type="adjustment").count() == 1
    diff.refresh_from_db()
    assert diff.status == "resolved"
    assert [k for k, *_ in history(diff)].count("approved") == 1
    day.assert_books_true()
    connection.close()
