"""Who may call the ledger API, with which keys, and what they did.

An ``ApiClient`` is a calling business system (trade, payment, credit, the
member app): a name, the source-system code its request numbers are unique
under (the ``source_system`` of every posting, hold and withdrawal it
makes), and scopes. It holds one or more ``ApiKey``\\s. A key is shown once,
when it is issued; the database keeps only its SHA-256 and the short prefix
used to find it, so a leaked table reveals no usable key. Keys are revoked,
never deleted, and clients are deactivated, never deleted, so the
``ApiCallLog`` always names who called.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

SOURCE_SYSTEM_PATTERN = r"^[a-z][a-z0-9_-]{1,31}$"
# Source systems the ledger uses for its own requests (postings.services,
# withdrawals.services, the staff desk): a client named so could replay,
# settle or release them.
RESERVED_SOURCE_SYSTEMS = frozenset({"ledger", "withdrawals", "staff"})


class Scope(models.TextChoices):
    READ = "read", "read: accounts, entries, postings, holds, withdrawals, reports"
    POST = "post", "post: postings, postings by rule, batches, reversals"
    HOLD = "hold", "hold: place, settle and release holds (冻结/扣除/解冻)"
    WITHDRAW = "withdraw", "withdraw: request withdrawals (提现) and read its own"
    ADMIN = "admin", "admin: open members and accounts, change an account's status"


class ApiClient(models.Model):
    name = models.CharField(max_length=64, unique=True)
    source_system = models.CharField(
        "source-system code",
        max_length=32,
        unique=True,
        validators=[RegexValidator(SOURCE_SYSTEM_PATTERN, "Lower-case letters, digits, '-' and '_', 2 to 32.")],
        help_text="Request numbers are unique per source system; fixed once the client has called.",
    )
    scopes = models.JSONField(default=list, help_text="Any of: read, post, hold, withdraw, admin.")
    active = models.BooleanField(default=True, help_text="An inactive client's keys are all refused.")
    rate_limit_per_minute = models.PositiveIntegerField(
        "rate limit (calls a minute)",
        null=True,
        blank=True,
        help_text="All the client's keys together; over it a call is answered 429 and changes nothing. "
        "Empty: the ledger's default (API_RATE_LIMIT_PER_MINUTE); 0: no limit.",
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "API client (接入系统)"
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.source_system})"

    # DRF and Django treat the authenticated principal like a user.
    is_authenticated = True
    is_anonymous = False

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class ApiKey(models.Model):
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="keys")
    prefix = models.CharField(max_length=16, unique=True, help_text="The visible part of the key (lk_<prefix>.…).")
    key_hash = models.CharField("SHA-256 of the key", max_length=64, editable=False)
    label = models.CharField(max_length=64, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["client", "-created_at"]

    def __str__(self):
        return f"lk_{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiCallLog(models.Model):
    """One call of the API: who, which endpoint, which request, the outcome
    (``created``, ``replayed``, ``ok`` or the error code) and how long it took.
    Written after the call's own transaction, so a log row never holds a
    ledger write back."""

    client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="calls")
    key_prefix = models.CharField(max_length=16, blank=True)
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=128, help_text="The route, e.g. api/v1/postings/<int:serial_no>/reversal.")
    path = models.CharField(max_length=255)
    request_no = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=64)
    latency_ms = models.PositiveIntegerField()
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API call"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["client", "created_at"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["request_no"]),
        ]

    def __str__(self):
        return f"{self.method} {self.path} {self.status_code}"
