"""Channel clearing-account settlement (渠道结算), worked by hand: a channel
settled twice in a day, its fee cost from the reconciled statement lines; two
batches racing from real threads; the end of day explaining the clearing
account and naming a difference."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from reports.settlement.checks import clearing_unexplained
from reports.settlement.exceptions import ChannelNotSetUp, CutOffInFuture, NothingToSettle
from reports.settlement.models import ChannelSettlement, SettledEntry
from reports.settlement.services import channel_settle
from tests.conftest import as_owner_bypassing_guards

from .books import D, balances, channel, recharge, statement, withdraw


@pytest.mark.django_db
def test_a_channel_settled_twice_in_a_day(ledger):
    ch = channel(ledger)
    clearing, bank, fee = ledger.channel(), ledger.internal("RESERVE_FUND"), ledger.internal("CHANNEL_FEE")
    alice, bob = ledger.cash(), ledger.cash()
    today = timezone.localdate()
    # Morning: two recharges in (Dr clearing), one payout out (Cr clearing).
    recharge(ledger, alice, "500.00", "S1")
    recharge(ledger, bob, "300.00", "S2")
    withdraw(ledger, alice, "120.00", "S3")
    statement(
        ch, today, [("S1", "in", "500.00", "2.50"), ("S2", "in", "300.00", "1.50"), ("S3", "out", "120.00", "1.00")]
    )
    assert balances(clearing) == [D("-680.00")]  # the channel owes us 680

    first = channel_settle(channel_code="bank1", settled_by="finance")
    assert (first.gross_in, first.gross_out, first.net, first.fee) == (D("800"), D("120"), D("680"), D("5.00"))
    assert first.to_bank == D("675.00")
    # Dr bank 675 / Dr fee cost 5 / Cr clearing 680: the clearing account is square.
    assert balances(clearing, bank, fee) == [D("0"), D("-675.00"), D("-5.00")]
    assert sorted(first.entries.values_list("entry__posting__external_ref", "fee")) == [
        ("S1", D("2.50")),
        ("S2", D("1.50")),
        ("S3", D("1.00")),
    ]

    # Afternoon: more business, a second batch takes only what came since.
    recharge(ledger, bob, "50.00", "S4")
    withdraw(ledger, bob, "200.00", "S5")  # more out than in: we pay the channel
    second = channel_settle(channel_code="bank1", settled_by="finance")
    assert (second.net, second.fee, second.entry_count) == (D("-150.00"), D("0"), 2)  # no statement line yet
    assert balances(clearing, bank) == [D("0"), D("-525.00")]
    assert SettledEntry.objects.filter(channel_settlement__isnull=False).count() == 5
    with pytest.raises(NothingToSettle):
        channel_settle(channel_code="bank1", settled_by="finance")
    outcome = clearing_unexplained(entity=ledger.entity)
    assert outcome.passed, outcome.details


# Entries are stamped by PostgreSQL with their transaction's start: each posting commits on its own here.
@pytest.mark.django_db(transaction=True)
def test_the_cut_off_leaves_later_entries_for_the_next_batch(ledger):
    channel(ledger)
    alice = ledger.cash()
    recharge(ledger, alice, "10.00", "A1")
    cut = timezone.now()
    recharge(ledger, alice, "20.00", "A2")
    batch = channel_settle(channel_code="bank1", settled_by="finance", cut_off=cut)
    assert batch.net == D("10.00")
    assert balances(ledger.channel()) == [D("-20.00")]  # A2 unsettled, and explained
    assert clearing_unexplained(entity=ledger.entity).passed
    with pytest.raises(CutOffInFuture):
        channel_settle(channel_code="bank1", settled_by="finance", cut_off=timezone.now() + timedelta(hours=1))


@pytest.mark.django_db
def test_a_channel_without_setup_is_refused_and_nothing_moves(ledger):
    from reports.channel.models import Channel

    ch = Channel.objects.create(
        code="bare", name="bare", entity=ledger.entity, col_serial="s", col_time="t", col_amount="a"
    )
    ch.clearing_accounts.add(ledger.channel())
    recharge(ledger, ledger.cash(), "10.00", "B1")
    with pytest.raises(ChannelNotSetUp):
        channel_settle(channel_code="bare", settled_by="finance")
    assert ChannelSettlement.objects.count() == 0


@pytest.mark.django_db
def test_the_database_refuses_settling_an_entry_twice_or_editing_a_batch(ledger):
    channel(ledger)
    recharge(ledger, ledger.cash(), "10.00", "C1")
    batch = channel_settle(channel_code="bank1", settled_by="finance")
    covered = batch.entries.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelSettlement.objects.filter(pk=batch.pk).update(fee=D("1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        SettledEntry.objects.create(entry_id=covered.entry_id, channel_settlement=batch)


@pytest.mark.django_db(transaction=True)
def test_the_end_of_day_names_an_unexplained_clearing_balance(ledger):
    channel(ledger)
    recharge(ledger, ledger.cash(), "10.00", "E1")
    batch = channel_settle(channel_code="bank1", settled_by="finance")
    late = recharge(ledger, ledger.cash(), "4.00", "E2")
    # Forged past the triggers: E2 marked settled by the morning's batch, though no money moved for it.
    with as_owner_bypassing_guards():
        SettledEntry.objects.create(entry=late.entries.get(account=ledger.channel()), channel_settlement=batch)
    outcome = clearing_unexplained(entity=ledger.entity)
    assert not outcome.passed
    account, settlement = outcome.details
    assert (account["account_no"], account["balance"], account["unsettled_entries"], account["difference"]) == (
        ledger.channel().account_no,
        "-4.0000",
        "0",
        "-4.0000",
    )
    assert settlement["settlement"] == f"channel {batch.pk}" and "its entries add up to 2" in settlement["problem"]


@pytest.mark.django_db(transaction=True)
def test_two_batches_racing_settle_every_entry_once(ledger):
    channel(ledger)
    wallets = [ledger.cash() for _ in range(4)]
    for i in range(40):
        recharge(ledger, wallets[i % 4], f"{i + 1}.00", f"R{i}")
    total = sum(D(f"{i + 1}.00") for i in range(40))
    start, outcomes = threading.Barrier(2), []

    def batch():
        try:
            start.wait()
            outcomes.append(channel_settle(channel_code="bank1", settled_by="finance").net)
        except NothingToSettle:
            outcomes.append("nothing")
        except Exception as exc:  # noqa: BLE001 - reported below
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == sorted([total, "nothing"], key=str)
    assert SettledEntry.objects.count() == 40
    assert balances(ledger.channel(), ledger.internal("RESERVE_FUND")) == [D("0"), -total]
    assert clearing_unexplained(entity=ledger.entity).passed
