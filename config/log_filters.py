"""Filters of the console log (settings.LOGGING)."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied


class RefusalWithoutTraceback(logging.Filter):
    """A page refused for want of a permission is the permission check doing
    its job: Django logs it with the exception's traceback, which on the
    console reads like a crash. The one line "Forbidden (Permission denied):
    <path>" stays; the traceback goes. Any other 403 or error keeps its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if getattr(record, "status_code", None) == 403 and exc_info and isinstance(exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
