"""What PostgreSQL refuses on settlement whoever writes, committed as the
runtime role (a compromised web process): editing or deleting a settlement
or a covered entry, covering an entry twice or adding it to a settlement
written earlier, and a settlement whose figures are not its entries'."""

import psycopg
import pytest

from reports.settlement.models import SettledEntry
from reports.settlement.services import channel_settle

from .books import channel, recharge

pytestmark = pytest.mark.django_db(transaction=True)


def _refused(run, sql, params, words):
    with pytest.raises(psycopg.Error, match=words):
        run(sql, params)


def test_settlements_and_what_they_cover_stand_as_written(runtime_sql, ledger):
    channel(ledger)
    recharge(ledger, ledger.cash(), "10.00", "G1")
    batch = channel_settle(channel_code="bank1", settled_by="finance")
    covered = SettledEntry.objects.get()
    late = recharge(ledger, ledger.cash(), "4.00", "G2").entries.get(account=ledger.channel())
    _refused(runtime_sql, "UPDATE reports_channelsettlement SET fee = 1 WHERE id = %s", [batch.pk], "Cannot update")
    _refused(runtime_sql, "DELETE FROM reports_settledentry WHERE id = %s", [covered.pk], "Cannot")
    insert = "INSERT INTO reports_settledentry (entry_id, channel_settlement_id, fee) VALUES (%s, %s, 0)"
    _refused(runtime_sql, insert, [late.serial_no, batch.pk], "only as it is written")
    # A whole batch forged in one transaction: its figures must be its entries'.
    forged = f"""
        WITH s AS (
          INSERT INTO reports_channelsettlement (channel_id, cut_off, currency, bank_account_id, fee_account_id,
                 gross_in, gross_out, fee, net, entry_count, request_no, settled_by, created_at, posting_id)
          SELECT channel_id, now(), currency, bank_account_id, fee_account_id, 400, 0, 0, 400, 1, 'forged', 'x', now(), {late.posting_id}
            FROM reports_channelsettlement WHERE id = {batch.pk} RETURNING id)
        INSERT INTO reports_settledentry (entry_id, channel_settlement_id, fee) SELECT %s, id, 0 FROM s"""
    _refused(runtime_sql, forged, [late.serial_no], "settlement_figures")
    _refused(runtime_sql, forged, [covered.entry_id], "duplicate key")  # an entry is settled once
    assert SettledEntry.objects.count() == 1


def test_a_recorded_bank_balance_is_never_edited(runtime_sql, ledger):
    from datetime import date

    from django.contrib.auth.models import User

    from reports.settlement.models import ReserveBalance, ReserveBankAccount

    bank = ReserveBankAccount.objects.create(entity=ledger.entity, bank="ICBC", account_no="62220001")
    row = ReserveBalance.objects.create(
        bank_account=bank,
        balance_date=date(2026, 11, 6),
        balance=100,
        source="entered",
        entered_by=User.objects.create_user("clerk"),
    )
    _refused(runtime_sql, "UPDATE reports_reservebalance SET balance = 1000 WHERE id = %s", [row.pk], "Cannot update")
    _refused(runtime_sql, "DELETE FROM reports_reservebalance WHERE id = %s", [row.pk], "Cannot")
