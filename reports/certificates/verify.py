"""The verifier: recompute the entries' hash chains and the close
certificates of an entity over a range of days, and name the first entry
or day that does not match (``manage.py ledger_verify``, and the auditor's
Verify button on /reports/certificates/).

It reads only, and it trusts nothing it reads: not the database's hash
function (each entry's hash is recomputed in Python from its columns, as
docs/hash_chain.md tells an outsider to), not the stored certificate (its
hash is recomputed from its contents, its contents from the books).

Entries. Each applied entry of the range is recomputed from its columns and
its previous entry's *stored* hash, so a change shows on the entry changed
(its content no longer gives its hash) or, if the intruder rewrote that
hash too, on the entry after it; rewriting every hash up to the account's
last entry changes the day's root, which the day's certificate seals. An
entry whose previous one is gone (deleted) is named too.

Days. For each certificate of the range: its own hash over its contents;
its link to the certificate before it; then each sealed part against the
books now: the day's entries' root, the balance sheet's hash, the check
results, each voucher's content (naming the voucher) and each export
(its stored file's checksum, and the checksum written in it recomputed from
the vouchers as they are now). The reconciliation part is a snapshot of the
drafting (differences get resolved afterwards): only the certificate's own
hash protects it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from django.db import connection

from accounts.models import Entity
from postings.hashchain import GENESIS, entry_digest
from postings.models import AccountingDay, DayStatus

from ..vouchers.formats import WRITERS, file_stem
from ..vouchers.models import Voucher, VoucherExport
from . import selectors
from .models import CloseCertificate

MAX_LISTED = 100

_ENTRIES = """
    SELECT e.serial_no, e.posting_id, e.account_id, e.account_seq, e.direction, e.amount, e.currency,
           e.balance_before, e.balance_after, e.frozen_before, e.frozen_after, e.business_type,
           e.accounting_date, e.created_at, e.entry_hash, a.account_no,
           p.serial_no IS NOT NULL AS has_previous, p.entry_hash AS previous_hash,
           p.balance_after AS previous_after
      FROM postings_entry e
      JOIN accounts_account a ON a.id = e.account_id
      LEFT JOIN postings_entry p ON p.account_id = e.account_id AND p.account_seq = e.account_seq - 1
     WHERE a.entity_id = %s AND e.accounting_date BETWEEN %s AND %s AND e.account_seq IS NOT NULL
     ORDER BY e.accounting_date, e.serial_no"""
_COLUMNS = (
    "serial_no",
    "posting_id",
    "account_id",
    "account_seq",
    "direction",
    "amount",
    "currency",
    "balance_before",
    "balance_after",
    "frozen_before",
    "frozen_after",
    "business_type",
    "accounting_date",
    "created_at",
    "entry_hash",
    "account_no",
    "has_previous",
    "previous_hash",
    "previous_after",
)


@dataclass(frozen=True)
class Mismatch:
    day: date
    kind: str  # "entry" or "certificate"
    problem: str
    # An entry's
    serial_no: int | None = None
    account_no: str = ""
    account_seq: int | None = None
    # A certificate's
    certificate_id: int | None = None
    field: str = ""

    def __str__(self) -> str:
        if self.kind == "entry":
            return (
                f"entry {self.serial_no} (account {self.account_no}, seq {self.account_seq}, {self.day}): "
                f"{self.problem}"
            )
        return f"certificate of {self.day} (#{self.certificate_id}), {self.field}: {self.problem}"


@dataclass
class Verification:
    entity: Entity
    date_from: date
    date_to: date
    entries: int = 0
    certificates: int = 0
    uncertified: list[date] = field(default_factory=list)  # closed days of the range without a certificate
    mismatches: list[Mismatch] = field(default_factory=list)
    found: int = 0  # mismatches in all (only the first MAX_LISTED are kept)

    @property
    def ok(self) -> bool:
        return self.found == 0

    @property
    def first(self) -> Mismatch | None:
        return self.mismatches[0] if self.mismatches else None

    def add(self, mismatch: Mismatch) -> None:
        self.found += 1
        if len(self.mismatches) < MAX_LISTED:
            self.mismatches.append(mismatch)

    def summary(self) -> str:
        head = (
            f"{self.entity.code} {self.date_from} .. {self.date_to}: {self.entries} entries, "
            f"{self.certificates} close certificates"
        )
        if self.ok:
            return f"{head}: everything matches."
        return f"{head}: {self.found} mismatch(es); the first: {self.first}"


def ledger_verify(*, entity: Entity, date_from: date, date_to: date) -> Verification:
    result = Verification(entity=entity, date_from=date_from, date_to=date_to)
    found: list[Mismatch] = []
    _verify_entries(result, found)
    _verify_certificates(result, found)
    # The first: by day, a day's entries before its certificate, entries by serial number.
    found.sort(key=lambda m: (m.day, m.kind != "entry", m.serial_no or 0, m.field))
    for mismatch in found:
        result.add(mismatch)
    return result


def _verify_entries(result: Verification, found: list[Mismatch]) -> None:
    with connection.chunked_cursor() as cursor:
        cursor.execute(_ENTRIES, [result.entity.pk, result.date_from, result.date_to])
        while rows := cursor.fetchmany(10_000):
            for values in rows:
                row = dict(zip(_COLUMNS, values, strict=True))
                result.entries += 1
                problem = _entry_problem(row)
                if problem:
                    found.append(
                        Mismatch(
                            day=row["accounting_date"],
                            kind="entry",
                            problem=problem,
                            serial_no=row["serial_no"],
                            account_no=row["account_no"],
                            account_seq=row["account_seq"],
                        )
                    )


def _entry_problem(row: dict) -> str:
    seq = row["account_seq"]
    if seq > 1 and not row["has_previous"]:
        return f"the entry before it (seq {seq - 1}) is missing"
    previous = GENESIS if seq == 1 else (bytes(row["previous_hash"]) if row["previous_hash"] else GENESIS)
    stored = bytes(row["entry_hash"]) if row["entry_hash"] is not None else None
    if stored is None:
        return "it has no hash (written with the database's triggers switched off)"
    if entry_digest(row, previous) != stored:
        return "its content does not give its hash (the entry, or the hash of the one before it, was altered)"
    start = 0 if seq == 1 else row["previous_after"]
    if row["balance_before"] != start:
        return f"balance before {row['balance_before']} is not the previous entry's balance after {start}"
    return ""


def _verify_certificates(result: Verification, found: list[Mismatch]) -> None:
    entity = result.entity
    certificates = list(
        CloseCertificate.objects.filter(
            entity=entity, accounting_date__range=(result.date_from, result.date_to)
        ).order_by("accounting_date")
    )
    result.certificates = len(certificates)
    certified = {c.accounting_date for c in certificates}
    result.uncertified = list(
        AccountingDay.objects.filter(
            entity=entity, status=DayStatus.CLOSED, date__range=(result.date_from, result.date_to)
        )
        .exclude(date__in=certified)
        .order_by("date")
        .values_list("date", flat=True)
    )
    before = selectors.previous_certificate(entity=entity, day=result.date_from)
    for certificate in certificates:
        for name, problem in _certificate_problems(certificate, before):
            found.append(
                Mismatch(
                    day=certificate.accounting_date,
                    kind="certificate",
                    problem=problem,
                    certificate_id=certificate.pk,
                    field=name,
                )
            )
        before = certificate


def _certificate_problems(certificate: CloseCertificate, previous: CloseCertificate | None):
    entity, day = certificate.entity, certificate.accounting_date
    stored = selectors.stored_contents(certificate)
    if selectors.certificate_digest(entity_code=entity.code, day=day, contents=stored) != certificate.certificate_hash:
        yield "certificate_hash", "its contents do not give its hash (the certificate was altered)"
    expected = previous.certificate_hash if previous is not None else selectors.GENESIS_HEX
    if certificate.previous_hash != expected or certificate.previous_id != (previous.pk if previous else None):
        before = f"the certificate of {previous.accounting_date}" if previous else "no certificate"
        yield "previous_hash", f"it is not chained to {before}, the one before it"

    count, root = selectors.entries_root(entity=entity, day=day)
    if (count, root) != (certificate.entries_count, certificate.entries_root):
        yield (
            "entries_root",
            (
                f"the day's {count} entries give root {root[:16]}..., the certificate sealed "
                f"{certificate.entries_count} entries with {certificate.entries_root[:16]}..."
            ),
        )
    rows, digest = selectors.sheet_hash(entity=entity, day=day)
    if (rows, digest) != (certificate.sheet_rows, certificate.sheet_hash):
        yield (
            "sheet_hash",
            (
                f"the balance sheet's {rows} rows give {digest[:16]}..., the certificate sealed "
                f"{certificate.sheet_rows} rows with {certificate.sheet_hash[:16]}..."
            ),
        )
    if selectors.checks_of_day(entity=entity, day=day) != certificate.checks:
        yield "checks", "the day's check results are not those the certificate sealed"
    yield from _voucher_problems(certificate)
    yield from _export_problems(certificate)


def _voucher_problems(certificate: CloseCertificate):
    now = {v["id"]: v for v in selectors.vouchers_of_day(entity=certificate.entity, day=certificate.accounting_date)}
    for sealed in certificate.vouchers:
        current = now.pop(sealed["id"], None)
        if current is None:
            yield "vouchers", f"voucher {sealed['voucher_no']} is gone"
        elif current["sha256"] != sealed["sha256"]:
            yield "vouchers", f"voucher {sealed['voucher_no']}'s header or lines were altered"
    for extra in now.values():
        yield "vouchers", f"voucher {extra['voucher_no']} was added to the day after the certificate"


def _export_problems(certificate: CloseCertificate):
    for sealed in certificate.exports:
        export = VoucherExport.objects.filter(pk=sealed["id"]).first()
        if export is None:
            yield "exports", f"export {sealed['file_name']} is gone"
            continue
        if hashlib.sha256(bytes(export.content)).hexdigest() != sealed["file_sha256"] or (
            export.file_sha256 != sealed["file_sha256"]
        ):
            yield "exports", f"export file {sealed['file_name']} is not the file the certificate sealed"
        vouchers = list(
            Voucher.objects.filter(pk__in=sealed["vouchers"])
            .select_related("entity", "reverses")
            .prefetch_related("lines")
        )
        vouchers.sort(key=lambda v: (v.accounting_date, v.period, v.number))
        stem = file_stem(export.entity.code, export.date_from, export.date_to)
        if WRITERS[export.format](vouchers, stem).data_sha256 != sealed["data_sha256"]:
            yield (
                "exports",
                (
                    f"the vouchers of export {sealed['file_name']} no longer give the checksum written in it "
                    f"({sealed['data_sha256'][:16]}...)"
                ),
            )
