"""Writes of the API's own tables: clients, keys, the call log, and the
request numbers of opened accounts. Ledger writes are not here: the views
call ``postings``, ``accounts`` and ``withdrawals`` services.

A key looks like ``lk_1a2b3c4d.<43 random url-safe characters>``: 256 bits
of entropy after the dot, so a plain SHA-256 is enough to store it (a slow
password hash protects guessable secrets; nobody guesses this one). The part
before the dot is stored as is, to find the row and to name the key in logs
and in the admin.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.kernel.errors import LedgerValidationError

from .models import RESERVED_SOURCE_SYSTEMS, SOURCE_SYSTEM_PATTERN, ApiCallLog, ApiClient, ApiKey, Scope

KEY_RE = re.compile(r"^lk_([0-9a-f]{8})\.([A-Za-z0-9_-]{43})$")
KEY_LENGTH = len("lk_") + 8 + len(".") + 43
# last_used_at is refreshed at most this often, so a busy key costs no write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(4)
    return prefix, f"lk_{prefix}.{secrets.token_urlsafe(32)}"


def clean_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = [s.strip() for s in scopes if s and s.strip()]
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise LedgerValidationError(
            f"Unknown scope {', '.join(unknown)}; the scopes are {', '.join(Scope.values)}.", scopes=",".join(unknown)
        )
    if not scopes:
        raise LedgerValidationError("Give the client at least one scope.", scopes="")
    return [s for s in Scope.values if s in scopes]


def clean_source_system(source_system: str) -> str:
    if not re.match(SOURCE_SYSTEM_PATTERN, source_system or ""):
        raise LedgerValidationError(
            "A source-system code is 2 to 32 lower-case letters, digits, '-' or '_', starting with a letter.",
            source_system=source_system,
        )
    if source_system in RESERVED_SOURCE_SYSTEMS:
        raise LedgerValidationError(
            f"{source_system!r} is the ledger's own source system; choose another.", source_system=source_system
        )
    return source_system


def api_key_issue(*, client: ApiClient, actor: str, label: str = "") -> tuple[ApiKey, str]:
    """A new key for ``client``. Returns the row and the key itself, which is
    not stored and cannot be shown again."""
    for _ in range(5):
        prefix, raw = _new_key()
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    client=client, prefix=prefix, key_hash=key_digest(raw), label=label[:64], created_by=actor[:150]
                )
        except IntegrityError:  # two keys drew the same 32-bit prefix
            continue
        return key, raw
    raise RuntimeError("Could not draw a free API key prefix.")


def api_client_create(
    *,
    name: str,
    source_system: str,
    scopes: Iterable[str],
    actor: str,
    description: str = "",
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiClient, str]:
    """Register a calling system with its first key; returns the client and the key.
    ``rate_limit_per_minute`` None: the ledger's default; 0: no limit."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise LedgerValidationError("A client needs a name of at most 64 characters.", name=name)
    source_system = clean_source_system(source_system)
    scopes = clean_scopes(scopes)
    if rate_limit_per_minute is not None and (not isinstance(rate_limit_per_minute, int) or rate_limit_per_minute < 0):
        raise LedgerValidationError(
            "The rate limit is a whole number of calls a minute, 0 or more.",
            rate_limit_per_minute=rate_limit_per_minute,
        )
    with transaction.atomic():
        if ApiClient.objects.filter(name=name).exists():
            raise LedgerValidationError(f"A client named {name!r} already exists.", name=name)
        if ApiClient.objects.filter(source_system=source_system).exists():
            raise LedgerValidationError(
                f"Source system {source_system!r} belongs to another client.", source_system=source_system
            )
        client = ApiClient.objects.create(
            name=name,
            source_system=source_system,
            scopes=scopes,
            description=description,
            rate_limit_per_minute=rate_limit_per_minute,
        )
        _, raw = api_key_issue(client=client, actor=actor, label="first key")
    return client, raw


def api_key_revoke(*, key: ApiKey, actor: str) -> ApiKey:
    """Revoke a key at once; revoking it again changes nothing."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_by=actor[:150])
    key.refresh_from_db()
    return key


def api_key_touch(*, key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def _printable(text: str, limit: int) -> str:
    """Paths and request numbers as a column can hold them: PostgreSQL text
    takes no NUL and UTF-8 no lone surrogate, and a log write must not fail."""
    text = str(text or "").replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


def api_call_record(
    *,
    client: ApiClient | None,
    key_prefix: str,
    method: str,
    endpoint: str,
    path: str,
    request_no: str,
    status_code: int,
    outcome: str,
    latency_ms: int,
    remote_addr: str | None,
) -> ApiCallLog:
    return ApiCallLog.objects.create(
        client=client,
        key_prefix=_printable(key_prefix, 16),
        method=_printable(method, 8),
        endpoint=_printable(endpoint, 128),
        path=_printable(path, 255),
        request_no=_printable(request_no, 64),
        status_code=status_code,
        outcome=_printable(outcome, 64),
        latency_ms=max(0, latency_ms),
        remote_addr=remote_addr or None,
    )
