"""The statement folder: channel statements dropped into a directory are
imported by a periodic scan (Celery beat, ``reports.tasks.statement_inbox_scan``,
or ``manage.py statement_inbox_scan``).

Layout (``settings.CHANNEL_STATEMENT_INBOX``)::

    <inbox>/<channel code>/<file>                    dropped here
    <inbox>/<channel code>/processing/<claimed at>-<random>/<file>   claimed by a scan
    <inbox>/<channel code>/done/<file>               imported
    <inbox>/<channel code>/failed/<file>             refused
    <inbox>/<channel code>/failed/<file>.error.txt   why

The statement date is the first date in the file name (``YYYYMMDD`` or
``YYYY-MM-DD``, not part of a longer run of digits). A file is taken once its
modification time is ``CHANNEL_STATEMENT_SETTLE_SECONDS`` old (a file still
being copied is left for a later scan); hidden files and ``*.part`` /
``*.tmp`` are never taken.

Claims. Before anything else a scan moves the file into a claim directory of
its own, ``processing/<claimed at>-<random>/``, with one ``os.replace`` (a
rename, atomic within a filesystem): of two scans seeing the same file (beat
overlap, two workers) exactly one rename succeeds, the other gets
FileNotFoundError and leaves the file alone. ``<claimed at>`` is UTC,
``YYYYMMDDTHHMMSSZ``. A claim older than ``CHANNEL_STATEMENT_CLAIM_MINUTES``
(a worker killed mid-import) is taken over by the next scan, renamed into a
new claim directory (again atomically, so only one scan takes it) and
imported again: its transaction was rolled back, or, if it had committed, the
statement is found imported by this folder under the same name and content
and the file goes to done/. A database that cannot be reached leaves the file
claimed, dated back so the next scan takes it over and retries.

Checks. A file from the folder is checked as an upload is
(``statement_import`` runs the checks ``statement_preview`` shows an
uploader): read whole, every line, the footer's totals, a header or lines
dated another day than the one in the file name (refused naming the dates
found), a duplicate file or day. A file that passes is imported at once, not
staged for a member of staff to confirm: the folder is a channel's automated
feed, read every minute, with nobody at a screen to look at a preview, and
a staged file would leave the day unmatched until someone did. What a
preview lets a person catch (the wrong day, a broken file) these checks
refuse by themselves; what they cannot (the right day, the wrong figures) is
undone by a void, which needs two people (``reports.channel.voiding``). A
refused file goes to failed/ with the same list of problems an upload shows
(the first 20 and how many more).

Nothing is ever overwritten or deleted: the file moves with ``os.replace``
inside the inbox's filesystem to a name reserved first with ``O_EXCL``
(``name``, else ``stem.2.ext``, ``stem.3.ext``, ...).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from accounts.kernel.errors import LedgerValidationError

from .exceptions import StatementAlreadyImported, StatementFileInvalid
from .importing import statement_import
from .models import Channel, StatementImport

logger = logging.getLogger(__name__)

INBOX_ACTOR = "system:statement-inbox"
PROCESSING, DONE, FAILED = "processing", "done", "failed"
IGNORED_SUFFIXES = (".part", ".tmp")
ERROR_SUFFIX = ".error.txt"
_DATE_IN_NAME = re.compile(r"(?<!\d)(?:(\d{4})(\d{2})(\d{2})|(\d{4})-(\d{2})-(\d{2}))(?!\d)")
_CLAIM_DIR = re.compile(r"^(\d{8}T\d{6}Z)-[0-9a-f]+$")
_CLAIM_TIME = "%Y%m%dT%H%M%SZ"


class InboxRefusal(LedgerValidationError):
    """A file the folder refuses before the import reads it (its folder, its name)."""

    code = "statement_inbox_refused"


# --------------------------------------------------------------- scan ----


def statement_inbox_scan(
    *,
    inbox: Path | str | None = None,
    settle_seconds: int | None = None,
    claim_minutes: int | None = None,
) -> list[dict]:
    """Import every settled file of the inbox; one summary dict per file seen:
    ``channel``, ``file``, ``outcome`` (``imported``, ``refused``, ``waiting``:
    too fresh, ``retry``: left claimed after a database error, ``ignored``:
    not in a channel folder) and, as they apply, ``statement_date``,
    ``import_id``, ``lines``, ``moved_to`` (relative to the inbox), ``reason``."""
    inbox = Path(inbox if inbox is not None else settings.CHANNEL_STATEMENT_INBOX)
    settle = settings.CHANNEL_STATEMENT_SETTLE_SECONDS if settle_seconds is None else settle_seconds
    claim_for = timedelta(minutes=settings.CHANNEL_STATEMENT_CLAIM_MINUTES if claim_minutes is None else claim_minutes)
    if not inbox.is_dir():
        # Not every installation uses the folder: nothing to say every minute.
        logger.debug("statement inbox %s does not exist; nothing to scan", inbox)
        return []
    scan = _Scan(inbox, settle, claim_for)
    for entry in sorted(inbox.iterdir()):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            scan.folder(entry)
        elif entry.is_file() and not entry.name.endswith(IGNORED_SUFFIXES):
            logger.warning(
                "statement inbox: %s is not in a channel folder (%s/<channel code>/); left where it is",
                entry.name,
                inbox,
            )
            scan.results.append(
                {"channel": "", "file": entry.name, "outcome": "ignored", "reason": "not in a channel folder"}
            )
    return scan.results


def statement_date_from_name(name: str) -> date:
    """The first date in a file name (YYYYMMDD or YYYY-MM-DD), or InboxRefusal."""
    candidates = list(_DATE_IN_NAME.finditer(name))
    for match in candidates:
        year, month, day = (int(g) for g in match.groups() if g is not None)
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found > timezone.localdate():
            raise InboxRefusal(f"the date in the file name ({match.group(0)}) is in the future")
        return found
    if candidates:
        raise InboxRefusal(
            f"the file name has no valid date ({', '.join(m.group(0) for m in candidates)} "
            f"is not a calendar date); name the file like <code>_YYYYMMDD.csv"
        )
    raise InboxRefusal(
        "the file name has no statement date (YYYYMMDD or YYYY-MM-DD); name the file like <code>_YYYYMMDD.csv"
    )


def _hidden(name: str) -> bool:
    return name.startswith(".")


class _Scan:
    def __init__(self, inbox: Path, settle: int, claim_for: timedelta):
        self.inbox, self.settle, self.claim_for = inbox, settle, claim_for
        self.results: list[dict] = []

    # -------------------------------------------------- one channel folder

    def folder(self, folder: Path) -> None:
        processing = folder / PROCESSING
        if processing.is_dir():
            self._take_over_due_claims(processing)
        for path in sorted(folder.iterdir()):
            name = path.name
            if _hidden(name) or name.endswith(IGNORED_SUFFIXES) or not path.is_file():
                continue  # done/, failed/, processing/ and any other folder too
            try:
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue  # claimed by another scan meanwhile
            if age < self.settle:
                logger.debug("statement inbox: %s/%s changed %.0f s ago; left for a later scan", folder.name, name, age)
                self.results.append(
                    {
                        "channel": folder.name,
                        "file": name,
                        "outcome": "waiting",
                        "reason": f"changed {age:.0f} s ago (settles after {self.settle} s)",
                    }
                )
                continue
            claimed = self._claim(path, processing, at=_now())
            if claimed is not None:
                self._record(self._process(folder, claimed, taken_over=False))

    def _record(self, result: dict | None) -> None:
        if result is not None:
            self.results.append(result)

    def _take_over_due_claims(self, processing: Path) -> None:
        now = _now()
        for claim_dir in sorted(processing.iterdir()):
            match = _CLAIM_DIR.match(claim_dir.name)
            if not match or not claim_dir.is_dir():
                continue
            if datetime.strptime(match.group(1), _CLAIM_TIME).replace(tzinfo=UTC) + self.claim_for > now:
                continue  # another scan is at work on it
            for path in sorted(claim_dir.iterdir()):
                if not path.is_file():
                    continue
                claimed = self._claim(path, processing, at=now)
                if claimed is not None:
                    logger.warning(
                        "statement inbox: %s/%s was left claimed since %s; taking it over",
                        processing.parent.name,
                        path.name,
                        match.group(1),
                    )
                    self._record(self._process(processing.parent, claimed, taken_over=True))
            _remove_empty_dir(claim_dir)

    @staticmethod
    def _claim(path: Path, processing: Path, *, at: datetime) -> Path | None:
        """Move ``path`` into a new claim directory of ours; None when another
        scan took it first (the rename found the file gone)."""
        processing.mkdir(exist_ok=True)
        while True:
            claim_dir = processing / f"{at:{_CLAIM_TIME}}-{secrets.token_hex(4)}"
            try:
                claim_dir.mkdir()
                break
            except FileExistsError:
                continue
        target = claim_dir / path.name
        try:
            os.replace(path, target)
        except FileNotFoundError:
            _remove_empty_dir(claim_dir)
            return None
        return target

    # -------------------------------------------------------- one file

    def _process(self, folder: Path, claimed: Path, *, taken_over: bool) -> dict | None:
        code, name = folder.name, claimed.name
        result = {"channel": code, "file": name}
        sha256 = started = channel = statement_date = None
        try:
            channel = Channel.objects.filter(code=code).first()
            if channel is None:
                raise InboxRefusal(
                    f"no channel has the code {code!r} (the folder's name); "
                    f"put statements in {self.inbox}/<channel code>/"
                )
            if not channel.active:
                raise InboxRefusal(f"the channel {code} is inactive")
            statement_date = statement_date_from_name(name)
            try:
                content = claimed.read_bytes()
            except FileNotFoundError:
                # Our claim was taken over (a claim time shorter than this scan's wait): the other scan has it.
                logger.warning("statement inbox: %s/%s was taken over by another scan before it was read", code, name)
                return None
            sha256 = hashlib.sha256(content).hexdigest()
            started = timezone.now()
            try:
                statement = statement_import(
                    channel=channel,
                    statement_date=statement_date,
                    file_name=name,
                    content=content,
                    imported_by=INBOX_ACTOR,
                    queue_matching=True,
                )
                note = ""
            except StatementAlreadyImported as exc:
                if not (taken_over and _imported_from_here(exc.earlier, channel, statement_date, name, sha256)):
                    raise
                # A scan that died after its import committed: the file is that import.
                statement, note = exc.earlier, "imported by a scan that was interrupted before moving the file"
        except LedgerValidationError as exc:
            return self._refuse(folder, claimed, result, exc)
        except Exception as exc:  # noqa: BLE001 - every file ends in done/ or failed/, or is retried
            statement = self._committed(channel, statement_date, name, sha256, started)
            if statement is None:
                if isinstance(exc, (OperationalError, InterfaceError)):
                    return self._retry_later(folder, claimed, result, exc)
                logger.exception("statement inbox: %s/%s: unexpected error", code, name)
                return self._refuse(folder, claimed, result, exc, unexpected=True)
            # The import committed; what failed came after it (queueing the matching on commit).
            logger.warning(
                "statement inbox: %s/%s imported as #%s, but queueing its matching failed: %r; "
                "run the matching for %s %s again",
                code,
                name,
                statement.pk,
                exc,
                code,
                statement.statement_date,
            )
            note = f"imported; queueing the matching failed ({exc!r})"
        return self._done(folder, claimed, result, statement, note)

    def _done(self, folder: Path, claimed: Path, result: dict, statement: StatementImport, note: str) -> dict:
        moved = _move(claimed, folder / DONE)
        result.update(
            outcome="imported",
            statement_date=statement.statement_date.isoformat(),
            import_id=statement.pk,
            lines=statement.line_count,
            moved_to=self._rel(moved),
        )
        if note:
            result["reason"] = note
        logger.info(
            "statement inbox: %s/%s imported as #%s (%s, %s lines)%s -> %s",
            folder.name,
            claimed.name,
            statement.pk,
            statement.statement_date,
            statement.line_count,
            f"; {note}" if note else "",
            result["moved_to"] or "left claimed (taken over by another scan)",
        )
        return result

    def _refuse(self, folder: Path, claimed: Path, result: dict, exc: Exception, *, unexpected: bool = False) -> dict:
        if unexpected:
            reason = f"unexpected error (please report it): {exc.__class__.__name__}: {exc}"
            code = "unexpected_error"
        else:
            reason, code = exc.message, exc.code
        text = [
            f"{folder.name}/{claimed.name}: refused ({code})",
            f"at {timezone.localtime():%Y-%m-%d %H:%M:%S %z} by {INBOX_ACTOR}",
            "",
            reason,
        ]
        if isinstance(exc, StatementFileInvalid):
            # The same list an upload shows on its page: the first MAX_PROBLEMS, then how many more.
            text += ["", "Problems (line numbers count from 1, as in an editor):"]
            text += [f"  {problem}" for problem in exc.problems]
            if exc.more:
                text.append(f"  and {exc.more} more problem{'s' if exc.more > 1 else ''}")
        if isinstance(exc, StatementAlreadyImported):
            text += ["", "A statement cannot be replaced by a second file; nothing was imported."]
        moved = _move(claimed, folder / FAILED, error_text="\n".join(text) + "\n")
        result.update(outcome="refused", reason=reason, moved_to=self._rel(moved))
        logger.warning(
            "statement inbox: %s/%s refused: %s -> %s",
            folder.name,
            claimed.name,
            reason,
            result["moved_to"] or "left claimed (taken over by another scan)",
        )
        return result

    def _retry_later(self, folder: Path, claimed: Path, result: dict, exc: Exception) -> dict:
        """The database is unreachable: keep the file claimed, dated back so
        the next scan takes it over (as a claim, so an import that did commit
        is recognised)."""
        logger.error(
            "statement inbox: %s/%s: database error, retried by the next scan: %s", folder.name, claimed.name, exc
        )
        again = self._claim(claimed, claimed.parent.parent, at=_now() - self.claim_for)
        if again is not None:
            _remove_empty_dir(claimed.parent)
        result.update(outcome="retry", reason=f"database error: {exc}", moved_to=self._rel(again or claimed))
        return result

    @staticmethod
    def _committed(channel, statement_date, name, sha256, started) -> StatementImport | None:
        """The statement this call imported, if its transaction committed
        before something after it (the on-commit queueing) failed."""
        if sha256 is None or started is None:
            return None
        try:
            return StatementImport.objects.filter(
                file_sha256=sha256,
                channel=channel,
                statement_date=statement_date,
                imported_by=INBOX_ACTOR,
                file_name=name[-255:],
                imported_at__gte=started,
            ).first()
        except (OperationalError, InterfaceError):
            return None

    def _rel(self, path: Path | None) -> str | None:
        return None if path is None else path.relative_to(self.inbox).as_posix()


def _imported_from_here(
    earlier: StatementImport, channel: Channel, statement_date: date, name: str, sha256: str
) -> bool:
    return (
        earlier.file_sha256 == sha256
        and earlier.channel_id == channel.pk
        and earlier.statement_date == statement_date
        and earlier.imported_by == INBOX_ACTOR
        and earlier.file_name == name[-255:]
    )


# ------------------------------------------------------------- files ----


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _move(source: Path, target_dir: Path, *, error_text: str | None = None) -> Path | None:
    """Move ``source`` into ``target_dir`` under a free name (never over a
    file), with ``<name>.error.txt`` beside it when ``error_text`` is given.
    None when the file is no longer there (another scan took the claim over);
    the claim directory is removed once empty."""
    target_dir.mkdir(exist_ok=True)
    target = _reserve(target_dir, source.name, with_error=error_text is not None)
    error_path = target.with_name(target.name + ERROR_SUFFIX)
    try:
        os.replace(source, target)
    except FileNotFoundError:
        target.unlink()  # our own empty placeholder
        if error_text is not None:
            error_path.unlink()
        return None
    if error_text is not None:
        error_path.write_text(error_text, encoding="utf-8")
    _remove_empty_dir(source.parent)
    return target


def _reserve(directory: Path, name: str, *, with_error: bool) -> Path:
    """Create an empty placeholder under the first free name (O_EXCL, so two
    scans never pick the same one); os.replace then puts the file on it."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a name like ".x"
        stem, dot, ext = name, "", ""
    for n in itertools.count(1):
        candidate = directory / (name if n == 1 else f"{stem}.{n}{dot}{ext}")
        if not _create_new(candidate):
            continue
        if with_error and not _create_new(candidate.with_name(candidate.name + ERROR_SUFFIX)):
            candidate.unlink()
            continue
        return candidate
    raise AssertionError("unreachable")


def _create_new(path: Path) -> bool:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


def _remove_empty_dir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # not empty, or gone
