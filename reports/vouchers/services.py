"""Writes of vouchers besides the build (``reports.vouchers.build``): the
export to the GL and the GL's acknowledgement.

Export. ``vouchers_export`` takes the draft vouchers of an entity and a
range of days, writes one file in the chosen layout (``formats``), and in
one transaction records the export (who, when, which vouchers, the file and
its checksums) and marks the vouchers exported, after which the database
refuses any change to them. Vouchers are locked first (by id), so two
exports at once never send a voucher twice: the second finds nothing left
to export and is told which export took them.

Acknowledgement. The GL answers with its own voucher number for each of
ours: recorded from its answer file (CSV or XLSX, preview then confirm,
refused whole) or by a member of staff on the voucher's page. Recording
the same number again changes nothing (a retried upload); another number
for an acknowledged voucher is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.kernel.errors import IllegalTransition, LedgerValidationError, NotAllowed
from accounts.kernel.permissions import require_permission
from accounts.models import Entity

from ..refusals import FileRefused, Problems
from ..tables import read_table
from .formats import WRITERS, file_stem
from .models import ExportFormat, Voucher, VoucherAckImport, VoucherExport, VoucherStatus

PERM_EXPORT = "reports.export_voucher"
PERM_ACKNOWLEDGE = "reports.acknowledge_voucher"
MAX_ACK_ROWS = 100_000


class NothingToExport(LedgerValidationError):
    code = "vouchers_nothing_to_export"


class VoucherExportRefused(LedgerValidationError):
    code = "vouchers_export_refused"


class VoucherAckInvalid(FileRefused):
    code = "voucher_ack_file_invalid"
    subject = "GL answer file"


class VoucherAckAlreadyImported(LedgerValidationError):
    code = "voucher_ack_file_already_imported"


class VoucherNotExported(IllegalTransition):
    code = "voucher_not_exported"


# ------------------------------------------------------------- export ----


def vouchers_export(*, entity: Entity, date_from: date, date_to: date, format: str, user) -> VoucherExport:
    require_permission(user, PERM_EXPORT, doing="export vouchers")
    if format not in ExportFormat.values:
        raise LedgerValidationError(f"Unknown export format {format!r}.", format=format)
    if date_from > date_to:
        raise LedgerValidationError("The first date is after the last one.", date_from=str(date_from))
    with transaction.atomic():
        vouchers = list(
            Voucher.objects.select_for_update(no_key=True, of=("self",))
            .select_related("entity", "reverses")
            .prefetch_related("lines")
            .filter(
                entity=entity,
                accounting_date__gte=date_from,
                accounting_date__lte=date_to,
                status=VoucherStatus.DRAFT,
            )
            .order_by("id")
        )
        if not vouchers:
            earlier = (
                VoucherExport.objects.filter(entity=entity, date_from__lte=date_to, date_to__gte=date_from)
                .order_by("-created_at")
                .first()
            )
            also = f" (the latest export of these days is #{earlier.pk}, {earlier.file_name})" if earlier else ""
            raise NothingToExport(
                f"No draft voucher of {entity.code} from {date_from} to {date_to} is left to export{also}.",
                earlier_export=earlier.pk if earlier else None,
            )
        vouchers.sort(key=lambda v: (v.accounting_date, v.period, v.number))
        if format == ExportFormat.YONYOU:
            foreign = [f"{v.voucher_no} ({v.currency})" for v in vouchers if v.currency != entity.base_currency]
            if foreign:
                raise VoucherExportRefused(
                    f"The Yonyou U8 layout carries amounts in the book's currency ({entity.base_currency}) only; "
                    f"export {', '.join(foreign[:5])} in another layout.",
                    vouchers=foreign[:20],
                )
        written = WRITERS[format](vouchers, file_stem(entity.code, date_from, date_to))
        export = VoucherExport.objects.create(
            format=format,
            entity=entity,
            date_from=date_from,
            date_to=date_to,
            file_name=written.file_name,
            content=written.content,
            file_sha256=hashlib.sha256(written.content).hexdigest(),
            data_sha256=written.data_sha256,
            voucher_count=len(vouchers),
            line_count=sum(len(v.lines.all()) for v in vouchers),
            created_by=user,
        )
        export.vouchers.add(*vouchers)
        Voucher.objects.filter(pk__in=[v.pk for v in vouchers]).update(
            status=VoucherStatus.EXPORTED, exported_at=export.created_at
        )
    return export


# ---------------------------------------------------- acknowledgement ----


def voucher_acknowledge(*, voucher: Voucher, gl_voucher_no: str, user, source: str = "staff") -> bool:
    """Record the GL's number of one exported voucher. True if recorded now,
    False if it already carried that number (a retry)."""
    require_permission(user, PERM_ACKNOWLEDGE, doing="record GL voucher numbers")
    gl_voucher_no = (gl_voucher_no or "").strip()
    if not gl_voucher_no or len(gl_voucher_no) > 64:
        raise LedgerValidationError(
            "The GL voucher number is empty or longer than 64 characters.", field="gl_voucher_no"
        )
    with transaction.atomic():
        locked = Voucher.objects.select_for_update(no_key=True).select_related("entity").get(pk=voucher.pk)
        return _acknowledge(locked, gl_voucher_no, user=user, source=source)


def _acknowledge(voucher: Voucher, gl_voucher_no: str, *, user, source: str) -> bool:
    if voucher.status == VoucherStatus.ACKNOWLEDGED:
        if voucher.gl_voucher_no == gl_voucher_no:
            return False
        raise IllegalTransition(
            f"{voucher.voucher_no} was acknowledged as GL voucher {voucher.gl_voucher_no}, not {gl_voucher_no}.",
            voucher=voucher.voucher_no,
        )
    if voucher.status != VoucherStatus.EXPORTED:
        raise VoucherNotExported(
            f"{voucher.voucher_no} has not been exported; the GL cannot have numbered it.", voucher=voucher.voucher_no
        )
    Voucher.objects.filter(pk=voucher.pk).update(
        status=VoucherStatus.ACKNOWLEDGED,
        gl_voucher_no=gl_voucher_no,
        acknowledged_at=timezone.now(),
        acknowledged_by=user.get_username(),
        acknowledged_from=source[:255],
    )
    return True


ACK_COLUMNS = {
    "voucher_no": ("voucher_no", "ledger_ref", "业务号", "FBillHead(GL_VOUCHER)", "凭证参考号"),
    "gl_voucher_no": ("gl_voucher_no", "总账凭证号", "GL凭证号"),
}


@dataclass(frozen=True)
class AckRow:
    row: int
    voucher: Voucher
    gl_voucher_no: str
    already: bool  # acknowledged before with this number


def _ack_rows(file_name: str, content: bytes) -> list[AckRow]:
    problems = Problems(VoucherAckInvalid)
    table = read_table(content, VoucherAckInvalid)
    header_row, header = next(table, (None, None))
    if header is None:
        raise VoucherAckInvalid(["the file is empty (row 1: no header row)"])
    names = {alias.lower(): name for name, aliases in ACK_COLUMNS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = names.get(("" if raw is None else str(raw)).strip().lower())
        if name and name not in columns:
            columns[name] = index
    missing = [n for n in ACK_COLUMNS if n not in columns]
    if missing:
        raise VoucherAckInvalid([f"row {header_row}: missing column {', '.join(missing)} (voucher_no, gl_voucher_no)"])
    wanted: list[tuple[int, str, str]] = []
    for row_no, values in table:
        if len(wanted) >= MAX_ACK_ROWS:
            problems.add(f"row {row_no}: more than {MAX_ACK_ROWS} rows")
            break

        def cell(name, values=values):
            i = columns[name]
            value = values[i] if i < len(values) else None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return "" if value is None else str(value).strip()

        ours, theirs = cell("voucher_no"), cell("gl_voucher_no")
        if not ours:
            problems.add(f"row {row_no}, column voucher_no: empty")
        elif not theirs or len(theirs) > 64:
            problems.add(f"row {row_no}, column gl_voucher_no: empty or longer than 64 characters")
        else:
            wanted.append((row_no, ours, theirs))
    problems.raise_if_any()
    if not wanted:
        raise VoucherAckInvalid([f"row {header_row + 1}: the file has a header but no rows"])

    by_no = _vouchers_by_no({ours for _, ours, _ in wanted})
    rows, seen = [], {}
    for row_no, ours, theirs in wanted:
        voucher = by_no.get(ours)
        if voucher is None:
            problems.add(f"row {row_no}, column voucher_no: no voucher {ours}")
        elif ours in seen:
            problems.add(f"row {row_no}, column voucher_no: {ours} is already on row {seen[ours]}")
        elif voucher.status == VoucherStatus.DRAFT:
            problems.add(f"row {row_no}, column voucher_no: {ours} has not been exported")
        elif voucher.status == VoucherStatus.ACKNOWLEDGED and voucher.gl_voucher_no != theirs:
            problems.add(
                f"row {row_no}, column gl_voucher_no: {ours} was acknowledged as GL voucher "
                f"{voucher.gl_voucher_no}, not {theirs}"
            )
        else:
            seen[ours] = row_no
            rows.append(AckRow(row_no, voucher, theirs, voucher.status == VoucherStatus.ACKNOWLEDGED))
    problems.raise_if_any()
    return rows


def _vouchers_by_no(numbers: set[str]) -> dict[str, Voucher]:
    """Our voucher numbers (ENTITY-YYYYMM-WORD-NNNN) -> the vouchers."""
    found: dict[str, Voucher] = {}
    keys = {}
    for text in numbers:
        parts = text.rsplit("-", 3)
        if len(parts) != 4 or not parts[1].isdigit() or len(parts[1]) != 6 or not parts[3].isdigit():
            continue
        entity, period, word, number = parts
        keys[text] = (
            entity,
            date(int(period[:4]), int(period[4:]), 1) if 1 <= int(period[4:]) <= 12 else None,
            word,
            int(number),
        )
    for text, (entity, period, word, number) in keys.items():
        if period is None:
            continue
        voucher = (
            Voucher.objects.select_related("entity")
            .filter(entity__code=entity, period=period, word=word, number=number)
            .first()
        )
        if voucher is not None:
            found[text] = voucher
    return found


class VoucherAckNotAllowed(NotAllowed):
    code = "forbidden"
    default_message = "You do not have the permission to record GL voucher numbers."


def voucher_ack_preview(*, file_name: str, content: bytes, user) -> dict:
    """What ``voucher_ack_import`` would record, refused as it would be."""
    require_permission(user, PERM_ACKNOWLEDGE, error=VoucherAckNotAllowed)
    _refuse_known_file(content)
    rows = _ack_rows(file_name, content)
    return {
        "row_count": len(rows),
        "new": sum(1 for r in rows if not r.already),
        "already": sum(1 for r in rows if r.already),
        "rows": [
            {"row": r.row, "voucher_no": r.voucher.voucher_no, "gl_voucher_no": r.gl_voucher_no, "already": r.already}
            for r in rows[:50]
        ],
    }


def _refuse_known_file(content: bytes) -> None:
    sha = hashlib.sha256(content).hexdigest()
    earlier = VoucherAckImport.objects.filter(file_sha256=sha).first()
    if earlier is not None:
        raise VoucherAckAlreadyImported(
            f"This file was already imported as acknowledgement #{earlier.pk} ({earlier.file_name}).",
            earlier_import=earlier.pk,
        )


def voucher_ack_import(*, file_name: str, content: bytes, user) -> VoucherAckImport:
    """Record every row's GL voucher number, in one transaction, or nothing."""
    require_permission(user, PERM_ACKNOWLEDGE, error=VoucherAckNotAllowed)
    _refuse_known_file(content)
    try:
        with transaction.atomic():
            rows = _ack_rows(file_name, content)
            ids = sorted({r.voucher.pk for r in rows})
            fresh = {
                v.pk: v
                for v in Voucher.objects.select_for_update(no_key=True, of=("self",))
                .select_related("entity")
                .filter(pk__in=ids)
                .order_by("pk")
            }
            name = (file_name or "upload")[-200:]
            done = sum(
                _acknowledge(fresh[r.voucher.pk], r.gl_voucher_no, user=user, source=f"file {name}") for r in rows
            )
            return VoucherAckImport.objects.create(
                file_name=(file_name or "")[-255:] or "upload",
                file_sha256=hashlib.sha256(content).hexdigest(),
                row_count=len(rows),
                acknowledged=done,
                uploaded_by=user,
            )
    except IntegrityError:
        _refuse_known_file(content)
        raise
