"""Pages of entries and postings (a cursor: stable while new ones arrive, no
COUNT of a hot account's millions) and of balance-sheet rows (numbered pages).
A page size out of range is a 400, not silently the default."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination, PageNumberPagination

CURSOR_PATTERN = r"^[A-Za-z0-9+/=]+$"
CURSOR_RE = re.compile(CURSOR_PATTERN[1:-1])


def _page_size(request, default: int, maximum: int) -> int:
    raw = request.query_params.get("page_size")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise exceptions.ValidationError({"page_size": f"A whole number from 1 to {maximum}."})
    return int(raw)


def page_size_parameter(default: int, maximum: int) -> OpenApiParameter:
    return OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": maximum},
        OpenApiParameter.QUERY,
        description=f"Rows per page, default {default}.",
    )


class EntryCursor(CursorPagination):
    """Entries oldest first. The serial number orders them (an entry of a
    buffered account has no place in its account's chain until it is applied)."""

    ordering = ("serial_no",)
    page_size = 100
    max_page_size = 1000

    def get_page_size(self, request):
        return _page_size(request, self.page_size, self.max_page_size)

    def decode_cursor(self, request):
        # DRF's base64 decoding skips what is not base64 ("!!" reads as the
        # first page): refuse it, as the schema's pattern does.
        raw = request.query_params.get(self.cursor_query_param)
        if raw is not None and not CURSOR_RE.fullmatch(raw):
            raise exceptions.NotFound(self.invalid_cursor_message)
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            if not (cursor.position.isascii() and cursor.position.isdigit()) or len(cursor.position) > 19:
                raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


class PostingCursor(EntryCursor):
    """Postings newest first. A page starts below the serial number the
    cursor names, so postings booked while a caller pages through arrive
    above its first page and never shift or repeat what it is reading."""

    ordering = ("-serial_no",)
    page_size = 50
    max_page_size = 500


CURSOR_PARAMETER = OpenApiParameter(
    "cursor",
    # DRF's cursors are base64; one that decodes to no position is 404.
    {"type": "string", "pattern": CURSOR_PATTERN},
    OpenApiParameter.QUERY,
    description="Opaque: the `next` or `previous` link's cursor.",
)


class SheetPages(PageNumberPagination):
    page_size = 500
    max_page_size = 5000

    def get_page_size(self, request):
        return _page_size(request, self.page_size, self.max_page_size)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise exceptions.ValidationError({"page": "A whole number from 1."})
        return raw  # past the last page: 404 (DRF)


PAGE_PARAMETER = OpenApiParameter(
    "page", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY, description="Page number, from 1."
)
