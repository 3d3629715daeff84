"""Refusals of channel statement import and matching."""

from __future__ import annotations

from django.utils import timezone

from accounts.kernel.errors import LedgerValidationError

from ..refusals import FileRefused
from .models import StatementImport

# -------------------------------------------------------------- errors ----


class StatementFileInvalid(FileRefused):
    """The file is refused whole; ``problems`` lists each "line N: why"."""

    code = "statement_file_invalid"
    subject = "statement"


class StatementWrongDay(StatementFileInvalid):
    """The file names a day other than the statement day chosen: imported, it
    would be matched against the wrong day and block the right file."""

    code = "statement_wrong_day"

    def __init__(self, problems: list[str], statement_date, dates_found):
        self.dates_found = dates_found
        found = ", ".join(f"{day:%Y-%m-%d}" for day in dates_found)
        super().__init__(
            [f"the file is dated {found}; the statement day chosen is {statement_date:%Y-%m-%d}", *problems]
        )


class StatementAlreadyImported(LedgerValidationError):
    code = "statement_already_imported"

    def __init__(self, earlier: StatementImport, why: str):
        self.earlier = earlier
        when = timezone.localtime(earlier.imported_at).strftime("%Y-%m-%d %H:%M")
        super().__init__(
            f"{why}: statement import #{earlier.pk} ({earlier.channel.code}, {earlier.statement_date:%Y-%m-%d}, "
            f"{earlier.file_name}, by {earlier.imported_by} at {when}).",
            earlier_import=earlier.pk,
        )


class StatementMissing(LedgerValidationError):
    code = "statement_missing"


class ChannelNotConfigured(LedgerValidationError):
    code = "channel_not_configured"
