"""The API's JSON parser: DRF's, after two checks on the raw body.

* A charset Python does not know (``application/json; charset=foo``) is
  refused with 415: Django quietly falls back to UTF-8 for it, so the body
  would be read in an encoding the caller did not name.
* Nesting deeper than ``MAX_DEPTH`` is refused with 400 before the body is
  parsed: the parser recurses once per level, and a 2 KB body nested 1,000
  deep would end in a RecursionError (a 500). No request of the ledger
  nests more than a few levels.

Brackets inside strings do not count; the scan runs on the bytes with
regular expressions (C speed), so a large batch costs little.
"""

from __future__ import annotations

import codecs
import io
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw``, strings skipped."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


class LedgerJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        charset = _charset(media_type)
        if charset is not None:
            try:
                codecs.lookup(charset)
            except LookupError:
                raise exceptions.UnsupportedMediaType(
                    media_type, detail=f"Unknown charset {charset!r}: send the body as application/json (UTF-8)."
                ) from None
        raw = stream.read() if stream is not None else b""
        if nesting_depth(raw) > MAX_DEPTH:
            raise exceptions.ParseError(f"The body nests deeper than {MAX_DEPTH} levels.")
        parser_context = dict(parser_context or {})
        parser_context.setdefault("encoding", charset or settings.DEFAULT_CHARSET)
        return super().parse(io.BytesIO(raw), media_type, parser_context)


def _charset(media_type: str | None) -> str | None:
    for param in (media_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None
