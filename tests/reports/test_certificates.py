"""The day's close certificate (日结单, issue 22 section 5): drafted by the end
of day, signed by one member of finance and co-signed by another, chained
to the day before; and the verifier, which names the first entry or day that
does not match after a raw-SQL tamper of an entry, a balance sheet row, a
voucher line, an export or the certificate itself.

The books: Nov 2, P1 recharge Alice 500, P2 recharge Bob 300, P3 transfer
Alice -> Bob 120 (6 entries; sheet: Alice 380, Bob 420, the channel -800);
Nov 3, P4 transfer Bob -> Alice 20 (2 entries).
"""

from __future__ import annotations

import hashlib
import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command

from accounts.kernel.errors import NotAllowed, SegregationOfDuties
from postings.models import Entry
from reports.certificates.exceptions import CertificateChanged, CertificateNotReady, CertificateOutOfOrder
from reports.certificates.models import CertificateStatus, CloseCertificate
from reports.certificates.selectors import GENESIS_HEX, certificate_digest, stored_contents
from reports.certificates.services import certificate_cosign, certificate_draft, certificate_sign
from reports.certificates.verify import ledger_verify
from reports.eod.models import DailyBalance
from reports.eod.services import eod_run
from reports.vouchers.models import Voucher, VoucherLine
from reports.vouchers.services import vouchers_export

from .eod_books import forge, open_books_on, post
from .reporting import ensure_report_roles, staff_user

pytestmark = pytest.mark.django_db

NOV2, NOV3, NOV4 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


@pytest.fixture
def books(ledger, django_capture_on_commit_callbacks):
    """The two days, each closed by the end of day, whose commit queues the
    drafting of the day's certificate (run here: no broker in these tests)."""
    open_books_on(ledger.entity, NOV2)
    alice, bob, channel = ledger.cash(), ledger.cash(), ledger.channel()
    p1 = post("recharge", member_account=alice, channel_account=channel, amount="500")
    post("recharge", member_account=bob, channel_account=channel, amount="300")
    p3 = post("transfer", payer_account=alice, payee_account=bob, amount="120")
    with django_capture_on_commit_callbacks(execute=True):
        eod_run(entity=ledger.entity, accounting_date=NOV2, actor="ops")
    p4 = post("transfer", payer_account=bob, payee_account=alice, amount="20")
    with django_capture_on_commit_callbacks(execute=True):
        eod_run(entity=ledger.entity, accounting_date=NOV3, actor="ops")
    return ledger.entity, alice, bob, channel, p1, p3, p4


@pytest.fixture
def clerks(db):
    ensure_report_roles()
    return staff_user("maker", "Finance staff"), staff_user("checker", "Finance staff")


def certificate(entity, day) -> CloseCertificate:
    return CloseCertificate.objects.get(entity=entity, accounting_date=day)


def verify(entity, start=NOV2, end=NOV3):
    return ledger_verify(entity=entity, date_from=start, date_to=end)


def run_command(entity, start=NOV2, end=NOV3) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("ledger_verify", "--entity", entity.code, "--from", str(start), "--to", str(end), stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


# ---------------------------------------------------------- drafting ----


def test_the_end_of_day_drafts_each_days_certificate_chained_to_the_day_before(books):
    entity, alice, bob, channel, *_ = books
    nov2, nov3 = certificate(entity, NOV2), certificate(entity, NOV3)
    assert (nov2.status, nov2.entries_count, nov2.sheet_rows) == (CertificateStatus.DRAFT, 6, 3)
    assert (nov3.entries_count, nov3.sheet_rows) == (2, 3)  # the channel carried, Alice and Bob moved
    assert nov2.previous is None and nov2.previous_hash == GENESIS_HEX
    assert nov3.previous == nov2 and nov3.previous_hash == nov2.certificate_hash
    assert len(nov2.checks) == 11 and all(c["passed"] for c in nov2.checks)
    day_vouchers = Voucher.objects.filter(entity=entity, accounting_date=NOV2).order_by("id")
    assert [v["voucher_no"] for v in nov2.vouchers] == [v.voucher_no for v in day_vouchers]
    assert len(nov2.vouchers) == 2  # recharge, transfer
    assert nov2.reconciliation["gl"] == {"status": "not imported"}
    assert nov2.reconciliation["open_differences"]["count"] == 0
    # Its hash is the documented one, over what it stores.
    assert nov2.certificate_hash == certificate_digest(
        entity_code=entity.code, day=NOV2, contents=stored_contents(nov2)
    )
    # The root is over the day's entries' hashes in serial order, 32 bytes each.
    day_hashes = Entry.objects.filter(accounting_date=NOV2).order_by("serial_no").values_list("entry_hash", flat=True)
    assert nov2.entries_root == hashlib.sha256(b"".join(bytes(h) for h in day_hashes)).hexdigest()

    result = verify(entity)
    assert result.ok, result.summary()
    assert (result.entries, result.certificates, result.uncertified) == (8, 2, [])
    out, status = run_command(entity)
    assert status == 0 and "8 entries, 2 close certificates: everything matches" in out


def test_a_rerun_of_the_end_of_day_redrafts_to_the_same_certificate(books, django_capture_on_commit_callbacks):
    entity, *_ = books
    CloseCertificate.objects.filter(entity=entity, accounting_date=NOV3).update(drafted_by="earlier")
    before = certificate(entity, NOV3).certificate_hash
    with django_capture_on_commit_callbacks(execute=True):
        eod_run(entity=entity, accounting_date=NOV3, actor="rerun")
    assert (certificate(entity, NOV3).certificate_hash, certificate(entity, NOV3).drafted_by) == (before, "rerun")


def test_drafts_arriving_out_of_order_still_make_one_chain(books):
    """Nov 4's drafting runs before Nov 3's (two workers, or Nov 3's task
    lost): it drafts Nov 3 first. Then Nov 2 is redrafted with a new hash:
    the drafts after it follow."""
    entity, alice, bob, *_ = books
    forge("DELETE FROM reports_closecertificate WHERE accounting_date = %s", [NOV3])
    post("transfer", payer_account=alice, payee_account=bob, amount="1")
    eod_run(entity=entity, accounting_date=NOV4, actor="ops")  # its task never runs here
    assert not CloseCertificate.objects.filter(accounting_date__in=[NOV3, NOV4]).exists()

    nov4 = certificate_draft(entity=entity, day=NOV4, actor="ops")
    assert nov4.previous == certificate(entity, NOV3) and certificate(entity, NOV3).previous == certificate(
        entity, NOV2
    )
    assert verify(entity, NOV2, NOV4).ok

    CloseCertificate.objects.filter(accounting_date=NOV2).update(certificate_hash="f" * 64)  # a stale draft
    assert verify(entity, NOV2, NOV4).first.field == "certificate_hash"
    certificate_draft(entity=entity, day=NOV2, actor="ops")
    assert verify(entity, NOV2, NOV4).ok
    assert certificate(entity, NOV4).previous_hash == certificate(entity, NOV3).certificate_hash


def test_a_day_not_closed_has_no_certificate(books):
    entity, *_ = books
    with pytest.raises(CertificateNotReady):
        certificate_draft(entity=entity, day=NOV4, actor="ops")


# ----------------------------------------------------------- sign-off ----


def test_two_people_sign_in_day_order_what_they_were_shown(books, clerks):
    entity, *_ = books
    maker, checker = clerks
    nov2, nov3 = certificate(entity, NOV2), certificate(entity, NOV3)

    with pytest.raises(CertificateOutOfOrder):  # Nov 2 is not co-signed yet
        certificate_sign(acting_user=maker, certificate_id=nov3.pk, seen_hash=nov3.certificate_hash)
    with pytest.raises(CertificateChanged):  # a hash the certificate no longer has
        certificate_sign(acting_user=maker, certificate_id=nov2.pk, seen_hash="0" * 64)

    signed = certificate_sign(acting_user=maker, certificate_id=nov2.pk, seen_hash=nov2.certificate_hash)
    assert (signed.status, signed.signed_by) == (CertificateStatus.SIGNED, maker)
    assert certificate_sign(acting_user=maker, certificate_id=nov2.pk, seen_hash=nov2.certificate_hash) == signed
    with pytest.raises(SegregationOfDuties):
        certificate_cosign(acting_user=maker, certificate_id=nov2.pk)
    done = certificate_cosign(acting_user=checker, certificate_id=nov2.pk)
    assert (done.status, done.cosigned_by) == (CertificateStatus.COSIGNED, checker)

    # A signed certificate is not redrafted; the next day is signed now, by either of them first.
    assert certificate_draft(entity=entity, day=NOV2, actor="ops").certificate_hash == nov2.certificate_hash
    certificate_sign(acting_user=checker, certificate_id=nov3.pk, seen_hash=nov3.certificate_hash)
    certificate_cosign(acting_user=maker, certificate_id=nov3.pk)
    assert verify(entity).ok


@pytest.mark.parametrize("role", ["Reviewer", "Cashier", "Auditor", "Ledger admin", None])
def test_only_finance_signs(books, role):
    entity, *_ = books
    nov2 = certificate(entity, NOV2)
    ensure_report_roles()
    someone = staff_user("someone", role)
    with pytest.raises(NotAllowed):
        certificate_sign(acting_user=someone, certificate_id=nov2.pk, seen_hash=nov2.certificate_hash)
    assert certificate(entity, NOV2).status == CertificateStatus.DRAFT


def test_a_redraft_after_the_export_seals_the_export_files_checksums(books, clerks):
    entity, *_ = books
    maker, _ = clerks
    assert certificate(entity, NOV2).exports == []
    export = vouchers_export(entity=entity, date_from=NOV2, date_to=NOV2, format="kingdee", user=maker)
    redrafted = certificate_draft(entity=entity, day=NOV2, actor="maker")
    (sealed,) = redrafted.exports
    assert (sealed["file_sha256"], sealed["data_sha256"]) == (export.file_sha256, export.data_sha256)
    assert sealed["file_sha256"] == hashlib.sha256(bytes(export.content)).hexdigest()
    # Nov 2's hash is new: Nov 3's draft was redrafted to chain to it.
    assert certificate(entity, NOV3).previous_hash == redrafted.certificate_hash
    assert verify(entity).ok


# ------------------------------------------------------------- tamper ----


def test_an_entry_amount_changed_by_raw_sql_is_named(books):
    entity, alice, bob, channel, p1, p3, p4 = books
    bad = Entry.objects.get(posting=p3, account=alice)
    forge("UPDATE postings_entry SET amount = 130 WHERE serial_no = %s", [bad.serial_no])

    result = verify(entity)
    assert not result.ok
    first = result.first
    assert (first.kind, first.serial_no, first.account_no, first.account_seq, first.day) == (
        "entry",
        bad.serial_no,
        alice.account_no,
        2,
        NOV2,
    )
    assert "does not give its hash" in first.problem
    out, status = run_command(entity)
    assert status == 1
    assert f"FIRST MISMATCH: entry {bad.serial_no} (account {alice.account_no}, seq 2, 2026-11-02)" in out


def test_an_intruder_who_rewrites_the_chain_to_its_end_is_caught_by_the_days_certificate(books):
    """The amount, and every hash from there to the account's last entry
    recomputed with the database's own function: each entry verifies
    against the one before it, but the days' roots no longer match."""
    entity, alice, bob, channel, p1, p3, p4 = books
    bad = Entry.objects.get(posting=p3, account=alice)
    forge("UPDATE postings_entry SET amount = 130 WHERE serial_no = %s", [bad.serial_no])
    for entry in Entry.objects.filter(account=alice, account_seq__gte=bad.account_seq).order_by("account_seq"):
        forge(
            """UPDATE postings_entry e SET entry_hash = ledger_entry_digest(e, p.entry_hash)
                 FROM postings_entry p
                WHERE e.serial_no = %s AND p.account_id = e.account_id AND p.account_seq = e.account_seq - 1""",
            [entry.serial_no],
        )
    result = verify(entity)
    assert [m.kind for m in result.mismatches] == ["certificate", "certificate"]
    assert (result.first.day, result.first.field) == (NOV2, "entries_root")
    assert (result.mismatches[1].day, result.mismatches[1].field) == (NOV3, "entries_root")


def test_a_deleted_entry_is_named_by_the_entry_after_it(books):
    entity, alice, bob, channel, p1, p3, p4 = books
    gone = Entry.objects.get(posting=p3, account=bob)
    after = Entry.objects.get(posting=p4, account=bob)
    forge("DELETE FROM postings_entry WHERE serial_no = %s", [gone.serial_no])
    result = verify(entity)
    entries = [m for m in result.mismatches if m.kind == "entry"]
    assert [(m.serial_no, m.problem) for m in entries] == [(after.serial_no, "the entry before it (seq 2) is missing")]
    assert (result.first.day, result.first.field) == (NOV2, "entries_root")  # Nov 2 lost an entry


def test_a_balance_sheet_row_changed_by_raw_sql_is_named_by_its_day(books):
    entity, alice, *_ = books
    row = DailyBalance.objects.get(account=alice, accounting_date=NOV2)
    forge("UPDATE reports_dailybalance SET closing = closing + 1 WHERE id = %s", [row.pk])
    result = verify(entity)
    assert [(m.day, m.field) for m in result.mismatches] == [(NOV2, "sheet_hash")]
    out, status = run_command(entity)
    assert status == 1 and "certificate of 2026-11-02" in out and "sheet_hash" in out


@pytest.mark.parametrize("by, fields", [("1", ["exports", "vouchers"]), ("0.0001", ["vouchers"])])
def test_a_voucher_line_changed_by_raw_sql_is_named_by_its_voucher(books, clerks, by, fields):
    """A line of an exported voucher, raised by 1 or by 0.0001. The export
    file's checksum is of amounts in cents as the GL takes them, so only the
    larger change shows there; the voucher's own hash has them in full."""
    entity, *_ = books
    maker, _ = clerks
    vouchers_export(entity=entity, date_from=NOV2, date_to=NOV2, format="csv", user=maker)
    certificate_draft(entity=entity, day=NOV2, actor="maker")
    certificate_draft(entity=entity, day=NOV3, actor="maker")
    assert verify(entity).ok
    line = VoucherLine.objects.filter(voucher__accounting_date=NOV2).order_by("id").first()
    forge("UPDATE reports_voucherline SET amount = amount + %s WHERE id = %s", [by, line.pk])

    result = verify(entity)
    assert [(m.day, m.field) for m in result.mismatches] == [(NOV2, name) for name in fields]
    assert result.mismatches[-1].problem == f"voucher {line.voucher.voucher_no}'s header or lines were altered"
    if "exports" in fields:
        assert "no longer give the checksum written in it" in result.first.problem


def test_an_export_file_changed_by_raw_sql_is_named(books, clerks):
    entity, *_ = books
    maker, _ = clerks
    export = vouchers_export(entity=entity, date_from=NOV2, date_to=NOV2, format="csv", user=maker)
    certificate_draft(entity=entity, day=NOV2, actor="maker")
    certificate_draft(entity=entity, day=NOV3, actor="maker")
    forge("UPDATE reports_voucherexport SET content = content || 'x'::bytea WHERE id = %s", [export.pk])
    result = verify(entity)
    assert [(m.field, m.problem) for m in result.mismatches] == [
        ("exports", f"export file {export.file_name} is not the file the certificate sealed")
    ]


def test_a_certificate_changed_by_raw_sql_is_named(books):
    entity, *_ = books
    nov2 = certificate(entity, NOV2)
    forge(
        """UPDATE reports_closecertificate SET checks = jsonb_set(checks, '{0,passed}', 'false') WHERE id = %s""",
        [nov2.pk],
    )
    result = verify(entity)
    assert [(m.day, m.field) for m in result.mismatches] == [(NOV2, "certificate_hash"), (NOV2, "checks")]


def test_a_certificate_removed_from_the_chain_is_named_by_the_next_day(books):
    entity, *_ = books
    forge("DELETE FROM reports_closecertificate WHERE accounting_date = %s", [NOV2])
    result = verify(entity)
    assert result.uncertified == [NOV2]
    assert [(m.day, m.field) for m in result.mismatches] == [(NOV3, "previous_hash")]


def test_the_reconciliation_part_says_where_each_channel_stands_and_how_old_the_open_differences_are(ledger):
    """A statement day of a sample channel with a long, a short and an
    amount mismatch (tests/reports/test_recon_pages.py's Day), as a
    certificate of that day, and of a day ten days later, would seal it."""
    from datetime import timedelta

    from reports.certificates.selectors import reconciliation_of_day
    from reports.channel.models import Difference

    from .test_recon_pages import Day

    recon = Day(ledger)
    open_now = Difference.objects.exclude(status="resolved").count()
    assert open_now >= 3
    same_day = reconciliation_of_day(entity=ledger.entity, day=recon.day)
    channel = next(c for c in same_day["channels"] if c["channel"] == "epaysim")  # besides the sample channels
    assert (channel["channel"], channel["status"], channel["matched"]) == ("epaysim", "differences", 1)
    assert same_day["gl"] == {"status": "not imported"}
    assert same_day["open_differences"]["ages"] == {"0-1": open_now, "2-7": 0, "8-30": 0, "31+": 0}

    later = reconciliation_of_day(entity=ledger.entity, day=recon.day + timedelta(days=10))
    assert {"channel": "epaysim", "status": "not reconciled"} in later["channels"]
    assert later["open_differences"]["ages"] == {"0-1": 0, "2-7": 0, "8-30": open_now, "31+": 0}
    assert {d["age_days"] for d in later["open_differences"]["oldest"]} == {10}
    assert later["open_differences"]["count"] == open_now
