"""What a close certificate seals, computed from the books as they are now:
the drafting records it, the verifier computes it again and compares.
docs/hash_chain.md gives each canonical form, so that someone with the
database (or the exports) and not this code can recompute every hash.

Everything is streamed (server-side cursors, incremental SHA-256): a day of
millions of entries or a sheet of a million accounts is never held in memory.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Entity
from postings.hashchain import plain, root_hash

from ..channel.models import Channel, Difference, DifferenceStatus, ReconRun
from ..eod.models import CheckResult
from ..gl_recon.models import GlImport
from ..gl_recon.selectors import gl_differences
from ..vouchers.models import Voucher, VoucherExport
from .models import AGE_BUCKETS, CloseCertificate

GENESIS_HEX = "0" * 64
VERSION = "close-certificate-v1"
_CHUNK = 10_000
OLDEST_LISTED = 20


def _stream(sql: str, params) -> object:
    """Rows of ``sql`` through a server-side cursor, a chunk at a time."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(_CHUNK):
            yield from rows


def _text(value) -> str:
    if isinstance(value, Decimal):
        return plain(value)
    if value is None:
        return ""
    return str(value)


def _line(values) -> bytes:
    return ("|".join(_text(v) for v in values) + "\n").encode("utf-8")


# -------------------------------------------------------------- entries ----

_DAY_ENTRIES = """
    SELECT e.entry_hash FROM postings_entry e JOIN accounts_account a ON a.id = e.account_id
     WHERE a.entity_id = %s AND e.accounting_date = %s ORDER BY e.serial_no"""


def entries_root(*, entity: Entity, day: date) -> tuple[int, str]:
    """(count, root) of the entity's entries of the day: the root is sha256
    over their stored hashes (32 bytes each) in serial-number order. Each hash
    chains to its account's earlier entries, so the root seals the day and,
    through the chains, everything before it."""
    count = 0

    def hashes():
        nonlocal count
        for (value,) in _stream(_DAY_ENTRIES, [entity.pk, day]):
            count += 1
            yield value

    root = root_hash(hashes())
    return count, root


# ---------------------------------------------------------- the sheet ----

SHEET_COLUMNS = (
    "account_id",
    "account_type_code",
    "subject_code",
    "category",
    "currency",
    "opening",
    "debit",
    "credit",
    "closing",
    "entry_count",
)
_SHEET = f"""
    SELECT {", ".join(SHEET_COLUMNS)} FROM reports_balancesheet
     WHERE entity_id = %s AND accounting_date = %s ORDER BY account_id"""


def sheet_hash(*, entity: Entity, day: date) -> tuple[int, str]:
    """(rows, hash) of the day's balance sheet as users see it (stored rows
    and carried ones): sha256 over one line per row, account by account,
    the columns of ``SHEET_COLUMNS`` joined by '|', each line ending in a newline."""
    digest, rows = hashlib.sha256(), 0
    for row in _stream(_SHEET, [entity.pk, day]):
        digest.update(_line(row))
        rows += 1
    return rows, digest.hexdigest()


# -------------------------------------------------------------- checks ----


def checks_of_day(*, entity: Entity, day: date) -> list[dict]:
    return [
        {"name": c.check_name, "passed": c.passed, "rows": c.checked_rows, "summary": c.summary}
        for c in CheckResult.objects.filter(entity=entity, accounting_date=day).order_by("check_name")
    ]


# ------------------------------------------------------------ vouchers ----

VOUCHER_FIELDS = ("id", "entity_id", "accounting_date", "period", "number", "word", "summary", "kind")
LINE_FIELDS = (
    "line_no",
    "subject_code",
    "direction",
    "currency",
    "amount",
    "business_type",
    "posting_serial",
    "customer",
    "member",
    "merchant",
    "channel",
    "bank_account",
    "department",
    "entry_count",
    "first_entry_serial",
    "last_entry_serial",
)


def voucher_sha256(voucher: Voucher) -> str:
    """A voucher's content: its header (``VOUCHER_FIELDS``, then the voucher
    it reverses, its key and currency) and its lines (``LINE_FIELDS``), one
    line each, amounts in full. Not its status nor the GL's number, which
    move on after the close (exported, acknowledged)."""
    digest = hashlib.sha256()
    digest.update(
        _line(
            [*(getattr(voucher, f) for f in VOUCHER_FIELDS), voucher.reverses_id, voucher.group_key, voucher.currency]
        )
    )
    for line in voucher.lines.all():
        digest.update(_line(getattr(line, f) for f in LINE_FIELDS))
    return digest.hexdigest()


def vouchers_of_day(*, entity: Entity, day: date) -> list[dict]:
    vouchers = (
        Voucher.objects.filter(entity=entity, accounting_date=day)
        .select_related("entity")
        .prefetch_related("lines")
        .order_by("id")
    )
    return [
        {
            "id": v.pk,
            "voucher_no": v.voucher_no,
            "kind": v.kind,
            "currency": v.currency,
            "lines": len(v.lines.all()),
            "sha256": voucher_sha256(v),
        }
        for v in vouchers
    ]


def exports_of_day(*, entity: Entity, day: date) -> list[dict]:
    """The export files that carried vouchers of the day to the GL, with the
    checksums they were written with (of the file, and the one written in it)."""
    exports = (
        VoucherExport.objects.filter(entity=entity, vouchers__accounting_date=day)
        .distinct()
        .prefetch_related("vouchers")
        .order_by("id")
    )
    return [
        {
            "id": x.pk,
            "file_name": x.file_name,
            "format": x.format,
            "file_sha256": x.file_sha256,
            "data_sha256": x.data_sha256,
            "vouchers": sorted(v.pk for v in x.vouchers.all()),
        }
        for x in exports
    ]


# ------------------------------------------------------ reconciliation ----


def reconciliation_of_day(*, entity: Entity, day: date) -> dict:
    """Where the day's reconciliations stand when the certificate is drafted
    (a snapshot: differences are resolved later, so the verifier checks this
    part against the certificate's own hash, not against today's figures)."""
    gl = GlImport.objects.filter(entity=entity, accounting_date=day, period_start__isnull=True).first()
    if gl is None:
        gl_status = {"status": "not imported"}
    else:
        differing = len(gl_differences(gl))
        gl_status = {
            "status": "differences" if differing else "reconciled",
            "file_name": gl.file_name,
            "file_sha256": gl.file_sha256,
            "differences": differing,
        }
    channels = []
    for channel in Channel.objects.filter(entity=entity).order_by("code"):
        run = ReconRun.objects.filter(channel=channel, recon_date=day).first()
        if run is None:
            channels.append({"channel": channel.code, "status": "not reconciled"})
            continue
        found = {cell[0]: cell[1] for cell in run.outcome_cells}
        channels.append(
            {
                "channel": channel.code,
                "status": "reconciled" if not any(found.values()) else "differences",
                "matched": run.matched_count,
                **{str(k): v for k, v in found.items()},
            }
        )
    open_rows = list(
        Difference.objects.filter(channel__entity=entity, recon_date__lte=day)
        .exclude(status=DifferenceStatus.RESOLVED)
        .order_by("recon_date", "id")
        .values("id", "recon_date", "channel__code", "outcome", "currency", "difference")
    )
    buckets = {label: 0 for _, label in AGE_BUCKETS}
    for row in open_rows:
        age = (day - row["recon_date"]).days
        label = next(label for bound, label in AGE_BUCKETS if bound is None or age <= bound)
        buckets[label] += 1
    oldest = [
        {
            "id": r["id"],
            "channel": r["channel__code"],
            "found_on": r["recon_date"].isoformat(),
            "age_days": (day - r["recon_date"]).days,
            "outcome": r["outcome"],
            "difference": f"{plain(r['difference'])} {r['currency']}",
        }
        for r in open_rows[:OLDEST_LISTED]
    ]
    return {
        "gl": gl_status,
        "channels": channels,
        "open_differences": {"count": len(open_rows), "ages": buckets, "oldest": oldest},
    }


# --------------------------------------------------- the certificate ----

SEALED_FIELDS = (
    "entries_count",
    "entries_root",
    "sheet_rows",
    "sheet_hash",
    "checks",
    "vouchers",
    "exports",
    "reconciliation",
    "previous_hash",
)


def certificate_document(*, entity_code: str, day: date, contents: dict) -> str:
    """The text a certificate's hash is taken of: canonical JSON (keys
    sorted, no spaces, UTF-8) of its entity, day and ``SEALED_FIELDS``."""
    document = {"version": VERSION, "entity": entity_code, "accounting_date": day.isoformat()}
    document.update({name: contents[name] for name in SEALED_FIELDS})
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def certificate_digest(*, entity_code: str, day: date, contents: dict) -> str:
    text = certificate_document(entity_code=entity_code, day=day, contents=contents)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_contents(certificate: CloseCertificate) -> dict:
    return {name: getattr(certificate, name) for name in SEALED_FIELDS}


def previous_certificate(*, entity: Entity, day: date) -> CloseCertificate | None:
    return CloseCertificate.objects.filter(entity=entity, accounting_date__lt=day).order_by("-accounting_date").first()


def certificates(*, entity: Entity | None = None) -> QuerySet[CloseCertificate]:
    qs = CloseCertificate.objects.select_related("entity", "signed_by", "cosigned_by")
    return qs.filter(entity=entity) if entity is not None else qs


def certificate_get(*, certificate_id: int) -> CloseCertificate:
    return CloseCertificate.objects.select_related("entity", "signed_by", "cosigned_by").get(pk=certificate_id)
