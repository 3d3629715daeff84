"""What the API reads and writes, field by field. Serializers here validate
shape and format only; what the ledger allows (balances, statuses, rules)
is decided by the services, whose errors come back in the same shape.

Amounts travel as decimal strings ("100.00"), in and out: a JSON number
would pass through a binary float on many clients, and the ledger refuses
floats. Outgoing amounts carry the currency's own decimals (CNY 2, JPY 0).
"""

from __future__ import annotations

import re
from datetime import UTC
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import fields, serializers

from accounts.kernel import metadata as references
from accounts.kernel.errors import InvalidMetadata
from accounts.kernel.money import AMOUNT_PATTERN, POSITIVE_AMOUNT_PATTERN, currency_places
from accounts.models import AccountStatus, Customer, PostingMode
from events.models import EVENT_TYPES
from postings.models import BusinessType
from postings.selectors import account_balance

from .models import SOURCE_SYSTEM_PATTERN

_AMOUNT_RE = re.compile(AMOUNT_PATTERN[1:-1])
SIGNED_AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
ACCOUNT_NO_PATTERN = r"^[0-9A-Za-z_-]{1,32}$"
DIRECTIONS = {"debit": "D", "credit": "C"}
DIRECTION_NAMES = {v: k for k, v in DIRECTIONS.items()}
# A reversal is posting_reverse's; a period close's postings are the close's
# (reports.periods), whose vouchers only it builds; the credit product's
# daily accruals are the end of day's (postings.credit), and may take a line
# beyond its limit, which a calling system's posting may not.
POSTING_BUSINESS_TYPES = [
    b
    for b in BusinessType.values
    if b
    not in (
        BusinessType.REVERSAL,
        BusinessType.PL_CARRY_FORWARD,
        BusinessType.YEAR_END_CLOSE,
        BusinessType.CREDIT_INTEREST,
        BusinessType.CREDIT_PENALTY,
    )
]
MAX_LEGS = 100
MAX_RULE_PARAMS = 32


def batch_max() -> int:
    return getattr(settings, "POSTING_BATCH_MAX", 1000)


def money_text(amount: Decimal | None, currency: str) -> str | None:
    """An amount as a decimal string with the currency's own decimals."""
    if amount is None:
        return None
    return format(amount.quantize(Decimal(1).scaleb(-currency_places(currency))), "f")


# --------------------------------------------------------------- fields ----


# What str.strip() (and so a trimmed field) takes for whitespace, spelled out
# for the schema: ECMA's \s and Python's differ on a few characters.
_SPACE_CLASS = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
NO_NUL_PATTERN = r"^[^\u0000]*$"
# drf-spectacular writes a field that may be blank as oneOf [its schema, ""]:
# the first branch must then not match "" too.
NO_NUL_NOT_EMPTY_PATTERN = r"^[^\u0000]+$"
NOT_BLANK_PATTERN = rf"^[^\u0000]*[^\u0000{_SPACE_CLASS}][^\u0000]*$"


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: 123 or true is refused, not turned into
    "123" or "True". Identifiers keep their whitespace (trimming a request
    number would make two requests one).

    NUL is refused (DRF's own validator; PostgreSQL text cannot hold it).
    A field with ``trim_whitespace`` (names, reasons) checks its length on
    the string as sent, then trims it: the schema's minLength, maxLength
    and pattern (at least one character that is not whitespace) then say
    exactly which strings the field takes."""

    default_error_messages = {"not_a_string": "Must be a JSON string."}

    def __init__(self, *, trim_whitespace: bool = False, **kwargs):
        self.trims = trim_whitespace
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)

    def run_validation(self, data=fields.empty):
        value = super().run_validation(data)
        if self.trims and isinstance(value, str):
            value = value.strip()
            if not value and not self.allow_blank:
                self.fail("blank")
        return value

    def schema_pattern(self) -> str:
        if self.allow_blank:
            return NO_NUL_NOT_EMPTY_PATTERN
        return NOT_BLANK_PATTERN if self.trims else NO_NUL_PATTERN


def request_no_field(**kwargs) -> StrictCharField:
    kwargs.setdefault(
        "help_text",
        "The caller's request number, unique within its source system. The same request sent again "
        "is answered with the original result; the same number with other content is 409.",
    )
    return StrictCharField(min_length=1, max_length=64, **kwargs)


def account_no_field(**kwargs) -> StrictCharField:
    return StrictCharField(max_length=32, **kwargs)


class AmountField(StrictCharField):
    """A positive decimal string, at most 16 digits before the point and 4
    after (``POSITIVE_AMOUNT_PATTERN``; ``AMOUNT_PATTERN`` with ``allow_zero``);
    the currency's own decimals are checked by the ledger (``invalid_amount``)."""

    default_error_messages = {
        "format": 'Must be a decimal string such as "100.00": digits, at most one point, no sign or exponent.',
        "zero": "Must be greater than zero.",
    }

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        self.allow_zero = allow_zero
        kwargs.setdefault("max_length", 21)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not _AMOUNT_RE.fullmatch(value):
            self.fail("format")
        if not self.allow_zero and Decimal(value) == 0:
            self.fail("zero")
        return value

    def schema_pattern(self) -> str:
        return AMOUNT_PATTERN if self.allow_zero else POSITIVE_AMOUNT_PATTERN


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """The schema of a StrictCharField (and an AmountField): DRF's lengths plus
    the field's pattern, so the schema refuses what the field refuses."""

    target_class = StrictCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        if isinstance(field, AmountField):
            return {"type": "string", "pattern": field.schema_pattern(), "example": "100.00"}
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        schema["pattern"] = field.schema_pattern()
        return schema


@extend_schema_field({"type": "string", "pattern": SIGNED_AMOUNT_PATTERN, "example": "100.00"})
class AmountOut(serializers.Field):
    """An amount of the object, in the object's currency (``currency_from``)."""

    def __init__(self, *, currency_from: str = "currency", **kwargs):
        self.currency_from = currency_from
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        if isinstance(instance, dict):
            currency = instance[self.currency_from]
        else:
            currency = fields.get_attribute(instance, self.currency_from.split("."))
        return value, currency

    def to_representation(self, value):
        amount, currency = value
        return money_text(amount, currency)


class PendingOut(AmountOut):
    """Of an account: the signed sum of its pending (buffered, not yet
    flushed) entries, or with ``total`` the balance including them."""

    def __init__(self, *, total: bool = False, **kwargs):
        self.total = total
        kwargs["source"] = "*"
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        seen = getattr(instance, "_seen_balance", None)
        if seen is None:  # one read for both fields
            seen = instance._seen_balance = account_balance(account=instance)
        return (seen.total if self.total else seen.pending), instance.currency


class NullableAmountOut(AmountOut):
    def __init__(self, **kwargs):
        kwargs["allow_null"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        pair = super().get_attribute(instance)
        return None if pair[0] is None else pair

    def to_representation(self, value):
        return None if value is None else super().to_representation(value)


METADATA_SCHEMA = {
    "type": "object",
    "maxProperties": references.MAX_KEYS,
    "propertyNames": {"pattern": references.KEY_PATTERN},
    "additionalProperties": {"type": "string", "maxLength": references.MAX_VALUE_CHARS, "pattern": NO_NUL_PATTERN},
    "description": f"The caller's own keys and values: a flat object of at most {references.MAX_KEYS} keys "
    f"(each 1-64 of A-Z a-z 0-9 _ . -), string values of at most {references.MAX_VALUE_CHARS} characters, "
    f"keys and values together at most {references.MAX_BYTES} bytes of UTF-8 (else 400 invalid_metadata). "
    "Searchable: GET /api/v1/postings?metadata[key]=value.",
    "example": {"order_id": "SO-2026-0042", "channel": "app"},
}


@extend_schema_field(METADATA_SCHEMA)
class MetadataField(serializers.Field):
    """Metadata as sent; WithReferences checks it."""

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("required", False)
            kwargs.setdefault("default", dict)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class WithReferences(serializers.Serializer):
    """A request with ``metadata``, checked by the rules' one home
    (accounts.kernel.metadata) and refused with its code: 400
    invalid_metadata naming the key (``metadata.<key>``;
    ``postings[1].metadata.<key>`` in a batch, which is then refused whole as
    any malformed batch is). Checked once every field is valid, so a request
    refused for a field's format names that field alone."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "metadata" in attrs:
            try:
                attrs["metadata"] = references.clean_metadata(attrs["metadata"])
            except InvalidMetadata as exc:
                key = next(iter(exc.fields), "metadata").partition(".")[2]
                detail = {key: exc.message} if key else [exc.message]
                raise serializers.ValidationError({"metadata": detail}, code=exc.code) from None
        return attrs


def trade_no_field() -> StrictCharField:
    return StrictCharField(
        min_length=1,
        max_length=references.TRADE_NO_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="The caller's trade (order) number: the postings of one order share it (1:N). Searchable: "
        "GET /api/v1/postings?trade_no=.",
    )


def trade_no_out(**kwargs) -> serializers.CharField:
    return serializers.CharField(allow_null=True, help_text="The caller's trade (order) number, if any.", **kwargs)


class DirectionField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=list(DIRECTIONS), **kwargs)

    def to_representation(self, value):
        return DIRECTION_NAMES.get(value, value)


# --------------------------------------------------------------- errors ----


class ErrorDetailOut(serializers.Serializer):
    code = serializers.CharField(help_text="Stable error code (see the error responses).")
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.CharField())


# -------------------------------------------------------------- members ----


class CustomerIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Customer.Kind.values)
    id_type = serializers.ChoiceField(
        choices=Customer.IdType.values,
        required=False,
        help_text="Default: resident_id for a person, business_license for a company.",
    )
    id_no = StrictCharField(min_length=1, max_length=64)
    name = StrictCharField(min_length=1, max_length=128, trim_whitespace=True)


class MemberIn(serializers.Serializer):
    member_no = StrictCharField(min_length=1, max_length=32)
    name = StrictCharField(min_length=1, max_length=128, trim_whitespace=True)
    platform = StrictCharField(min_length=1, max_length=64, required=False, default="wallet")
    customer = CustomerIn()


class CustomerOut(serializers.Serializer):
    kind = serializers.CharField()
    id_type = serializers.CharField()
    id_no = serializers.CharField()
    name = serializers.CharField()


class MemberOut(serializers.Serializer):
    member_no = serializers.CharField()
    name = serializers.CharField()
    platform = serializers.CharField()
    customer = CustomerOut()
    created_at = serializers.DateTimeField()


# ------------------------------------------------------------- accounts ----


class AccountIn(serializers.Serializer):
    """Rules across fields, checked by the ledger: member_no, entity and
    account_type name existing ones (404 not_found); credit_limit is for an
    asset (credit) account type only (422); currency, when given, is one the
    entity keeps."""

    request_no = request_no_field(required=False)
    member_no = StrictCharField(
        min_length=1, max_length=32, required=False, help_text="The owner; omit for an internal account (内部户)."
    )
    entity = StrictCharField(min_length=1, max_length=16, help_text="Accounting entity (会计主体) code, e.g. MAIN.")
    account_type = StrictCharField(min_length=1, max_length=32, help_text="A code of the chart, e.g. USER_CASH.")
    currency = serializers.ChoiceField(
        choices=list(settings.CURRENCIES), required=False, help_text="Default: the entity's base currency."
    )
    credit_limit = AmountField(allow_zero=True, required=False, help_text="Asset (credit) accounts only.")
    name = StrictCharField(max_length=128, required=False, default="", allow_blank=True, trim_whitespace=True)


class AccountStatusIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    reason = StrictCharField(min_length=1, max_length=255, trim_whitespace=True)


class AccountOut(serializers.Serializer):
    """An account as it stands. New figures (e.g. a pending amount of a
    buffered account) are added here as fields; nothing else changes."""

    account_no = serializers.CharField()
    name = serializers.CharField()
    member_no = serializers.CharField(source="member.member_no", allow_null=True, default=None)
    entity = serializers.CharField(source="entity.code")
    account_type = serializers.CharField(source="account_type.code")
    subject_code = serializers.CharField(source="account_type.subject_code")
    category = serializers.CharField()
    currency = serializers.CharField()
    balance = AmountOut(help_text="Posted balance. For a buffered (hot) account, without its pending entries.")
    pending = PendingOut(help_text="Signed sum of pending entries of a buffered (hot) account; 0 otherwise.")
    balance_with_pending = PendingOut(total=True, help_text="balance + pending: what the account holds now.")
    frozen = AmountOut()
    available = AmountOut()
    credit_limit = AmountOut()
    posting_mode = serializers.ChoiceField(choices=PostingMode.choices)
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    opened_on = serializers.DateField()
    closed_on = serializers.DateField(allow_null=True)


class MemberAccountsOut(serializers.Serializer):
    member_no = serializers.CharField()
    accounts = AccountOut(many=True, help_text="Every account of the member, closed ones too, in account number order.")


class SettlementDueOut(serializers.Serializer):
    accounting_date = serializers.DateField(help_text="The accounting date of the pending credits.")
    due_on = serializers.DateField(help_text="The business day they become available (T+N).")
    amount = AmountOut()
    currency = serializers.CharField()


class SettlementOut(serializers.Serializer):
    """A T+N merchant's money: available on its account, pending settlement
    (待结算) on its pending account, and when the pending credits fall due."""

    account_no = serializers.CharField()
    pending_account_no = serializers.CharField()
    currency = serializers.CharField()
    days = serializers.IntegerField(help_text="N: business days from a credit's accounting date to available.")
    available = AmountOut(help_text="Available on the merchant's account (balance - frozen).")
    pending = AmountOut(help_text="Pending settlement: the pending account's balance.")
    due_now = AmountOut(help_text="What the next run of the settlement job moves (due credits less debits).")
    schedule = SettlementDueOut(many=True)


# -------------------------------------------------------------- entries ----


class EntriesQuery(serializers.Serializer):
    accounting_date_after = serializers.DateField(required=False, help_text="From this accounting date, inclusive.")
    accounting_date_before = serializers.DateField(
        required=False,
        help_text="Up to this accounting date, inclusive; not before accounting_date_after (400 validation_error).",
    )
    business_type = serializers.ChoiceField(choices=BusinessType.values, required=False)

    def validate(self, attrs):
        after, before = attrs.get("accounting_date_after"), attrs.get("accounting_date_before")
        if after and before and after > before:
            raise serializers.ValidationError({"accounting_date_before": "Must not be before accounting_date_after."})
        return attrs


_EVENT_TYPE = "|".join(re.escape(t) for t in EVENT_TYPES)
_EVENT_TYPES_RE = rf"^({_EVENT_TYPE})(,({_EVENT_TYPE}))*$"


class EventsQuery(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=2**63 - 1, help_text="Events numbered after this (seq)."
    )
    types = serializers.RegexField(
        _EVENT_TYPES_RE,
        required=False,
        help_text=f"Comma-separated event types, any of: {', '.join(EVENT_TYPES)}. Default: all.",
    )
    limit = serializers.IntegerField(
        required=False,
        default=100,
        min_value=1,
        max_value=settings.EVENTS_PAGE_MAX,
        help_text=f"At most this many events (1 to {settings.EVENTS_PAGE_MAX}, default 100).",
    )

    def validate_types(self, value: str) -> list[str]:
        return value.split(",")


class EventOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="The event's id: the same on every delivery of it.")
    seq = serializers.IntegerField(help_text="Global sequence number: 1, 2, 3, ... without gaps.")
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    type_version = serializers.IntegerField(help_text="Version of the payload's schema.")
    occurred_at = serializers.DateTimeField()
    entity_id = serializers.IntegerField(allow_null=True)
    aggregate_type = serializers.CharField(help_text="posting, hold, withdrawal, account, eod_run, recon_run.")
    aggregate_id = serializers.IntegerField()
    aggregate_version = serializers.IntegerField(help_text="1, 2, 3, ... per aggregate, without gaps.")
    payload = serializers.JSONField(help_text="Per type: docs/events/<type>.v<type_version>.json.")


class EventPageOut(serializers.Serializer):
    events = EventOut(many=True)
    next_after = serializers.IntegerField(help_text="Pass as `after` for the next page.")
    last_seq = serializers.IntegerField(help_text="The highest number given so far.")


class EntryOut(serializers.Serializer):
    serial_no = serializers.IntegerField()
    posting_serial_no = serializers.IntegerField(source="posting_id")
    account_seq = serializers.IntegerField(allow_null=True, help_text="The entry's place in the account's chain.")
    direction = DirectionField()
    amount = AmountOut()
    currency = serializers.CharField()
    balance_before = NullableAmountOut()
    balance_after = NullableAmountOut()
    business_type = serializers.CharField()
    accounting_date = serializers.DateField()
    created_at = serializers.DateTimeField()


class BalanceAsOfQuery(serializers.Serializer):
    as_of = serializers.DateTimeField(
        required=False, help_text="An instant (ISO 8601 with offset): the balance after every entry booked by then."
    )
    accounting_date = serializers.DateField(
        required=False, help_text="An accounting day: its closing (from the end of day's balance sheet if built)."
    )

    def validate(self, attrs):
        if ("as_of" in attrs) == ("accounting_date" in attrs):
            raise serializers.ValidationError({"as_of": "Give exactly one of as_of and accounting_date."})
        return attrs


class InstantOut(serializers.DateTimeField):
    """An instant in the ledger's time zone, unless that zone's offset then
    had seconds (Asia/Shanghai before 1901 is +08:05:43, local mean time),
    which RFC 3339 cannot write: then in UTC."""

    def to_representation(self, value):
        if value is not None and timezone.is_aware(value):
            offset = timezone.localtime(value).utcoffset()
            if offset is not None and offset.seconds % 60:
                return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return super().to_representation(value)


class BalanceAsOfOut(serializers.Serializer):
    account_no = serializers.CharField()
    currency = serializers.CharField()
    as_of = InstantOut(allow_null=True)
    accounting_date = serializers.DateField(allow_null=True)
    balance = AmountOut(help_text="Applied entries only; a buffered leg counts from its booking once applied.")
    frozen = AmountOut()
    available = AmountOut(help_text="From balance and frozen then, with today's credit limit.")
    pending = AmountOut(help_text="Signed: booked by then on a buffered account and still not applied now.")
    source = serializers.ChoiceField(choices=["entries", "balance_sheet", "opening"])
    account_seq = serializers.IntegerField(allow_null=True, help_text="The last entry of the chain it reflects.")


class StatementQuery(serializers.Serializer):
    # "from" is a Python keyword: the field is named in the view's query.
    to = serializers.DateField(help_text="Last accounting date, inclusive; not before `from` (400 naming to).")
    format = serializers.ChoiceField(
        choices=["json", "csv", "pdf"],
        required=False,
        help_text="csv: the whole range, streamed (or send Accept: text/csv); pdf: the whole range as a printable "
        "statement (or send Accept: application/pdf).",
    )
    after_seq = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=2**63 - 1,
        help_text="JSON pages: entries after this account_seq (the `next` link carries it).",
    )
    page_size = serializers.IntegerField(
        required=False, default=500, min_value=1, max_value=5000, help_text="JSON: entries per page (1-5000)."
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(help_text="First accounting date, inclusive.")
        return fields

    def validate(self, attrs):
        if attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": "Must not be before from."})
        return attrs


class StatementLineOut(serializers.Serializer):
    serial_no = serializers.IntegerField()
    posting_serial_no = serializers.IntegerField(source="posting_id")
    account_seq = serializers.IntegerField()
    accounting_date = serializers.DateField()
    created_at = serializers.DateTimeField()
    business_type = serializers.CharField()
    direction = DirectionField()
    amount = AmountOut()
    currency = serializers.CharField()
    running_balance = AmountOut(source="balance_after", help_text="The balance after this entry.")


class StatementOut(serializers.Serializer):
    account_no = serializers.CharField()
    currency = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    opening = AmountOut(help_text="The balance before the first entry dated `from`.")
    closing = AmountOut(help_text="The balance after the last entry dated up to `to`.")
    entries = StatementLineOut(many=True)
    next = serializers.CharField(allow_null=True, help_text="The next page of entries; null on the last.")


class MonthlyStatementOut(serializers.Serializer):
    month = serializers.DateField(format="%Y-%m", help_text="The calendar month of accounting dates (YYYY-MM).")
    account_no = serializers.CharField(source="account.account_no")
    currency = serializers.CharField()
    opening = AmountOut()
    debit_total = AmountOut()
    credit_total = AmountOut()
    closing = AmountOut()
    entry_count = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="SHA-256 of the PDF, hex.")
    generated_at = serializers.DateTimeField()
    pdf = serializers.CharField(help_text="The PDF's path: GET it with the same key.")


class MonthlyStatementListOut(serializers.Serializer):
    account_no = serializers.CharField()
    statements = MonthlyStatementOut(many=True, help_text="Newest month first.")


class ReceiptVerifyQuery(serializers.Serializer):
    code = serializers.RegexField(
        r"^[0-9A-Za-z -]{1,40}$",
        max_length=40,
        help_text="The verification code printed on the receipt (dashes, spaces and case aside).",
    )


class ReceiptVerifyOut(serializers.Serializer):
    serial_no = serializers.IntegerField()
    valid = serializers.BooleanField(
        help_text="True when this posting's receipt carries this code; false for any other code or no such posting."
    )


class EntryPageOut(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page; null on the first.")
    results = EntryOut(many=True)


# ------------------------------------------------------------- postings ----


class LegIn(serializers.Serializer):
    account_no = account_no_field()
    direction = DirectionField()
    amount = AmountField()


class PostingIn(WithReferences):
    """Rules across fields, checked by the ledger: debits equal credits
    (422 unbalanced_posting); no account on both a debit and a credit leg
    (400 same_account); every account exists (404), is open to the
    direction (422 account_blocked, account_closed), keeps the posting's
    currency (422 currency_mismatch; without currency, the first leg's) and
    belongs to one entity (422 cross_entity); no amount has more decimals
    than the currency (400 invalid_amount); a debited customer account has
    the available balance (422 insufficient_funds)."""

    request_no = request_no_field()
    business_type = serializers.ChoiceField(choices=POSTING_BUSINESS_TYPES)
    legs = serializers.ListField(child=LegIn(), min_length=2, max_length=MAX_LEGS)
    memo = StrictCharField(max_length=255, required=False, default="", allow_blank=True)
    currency = serializers.ChoiceField(choices=list(settings.CURRENCIES), required=False)
    external_ref = StrictCharField(
        max_length=64,
        required=False,
        default="",
        allow_blank=True,
        help_text="A channel serial number, bank reference or payment slip number.",
    )
    accounting_date = serializers.DateField(
        required=False,
        help_text="The accounting day the caller expects; must be the entity's open day. A day already cut is "
        "refused (422 day_closed), a later day 422 ledger_error. Omit to post on the open day.",
    )
    trade_no = trade_no_field()
    metadata = MetadataField()


class BatchItemIn(WithReferences):
    """As a posting (PostingIn), each item refused or posted on its own."""

    request_no = request_no_field()
    business_type = serializers.ChoiceField(choices=POSTING_BUSINESS_TYPES)
    legs = serializers.ListField(child=LegIn(), min_length=2, max_length=MAX_LEGS)
    memo = StrictCharField(max_length=255, required=False, default="", allow_blank=True)
    currency = serializers.ChoiceField(choices=list(settings.CURRENCIES), required=False)
    external_ref = StrictCharField(max_length=64, required=False, default="", allow_blank=True)
    trade_no = trade_no_field()
    metadata = MetadataField()


class BatchIn(serializers.Serializer):
    """Each item is answered on its own (200 with one result per item): a
    request number repeated in the batch with other content is that item's
    idempotency_conflict, with the same content a replay of the first."""

    postings = serializers.ListField(child=BatchItemIn(), min_length=1, max_length=batch_max())


class ByRuleIn(WithReferences):
    """Rules across fields, checked by the ledger: the business type has an
    active rule (422 rule_not_configured); params hold what the rule names,
    accounts that exist (404) and amounts as in PostingIn (400 invalid_amount);
    at most 32 parameters; the legs the rule makes obey PostingIn's rules."""

    request_no = request_no_field()
    business_type = serializers.ChoiceField(choices=POSTING_BUSINESS_TYPES)
    params = serializers.DictField(
        child=StrictCharField(max_length=64),
        help_text="The rule's parameters: account numbers and decimal-string amounts, e.g. recharge: "
        "member_account, channel_account, amount, channel_serial_no.",
    )
    memo = StrictCharField(max_length=255, required=False, default="", allow_blank=True)
    trade_no = trade_no_field()
    metadata = MetadataField()

    def validate_params(self, params):
        if len(params) > MAX_RULE_PARAMS:
            raise serializers.ValidationError(f"At most {MAX_RULE_PARAMS} parameters.")
        return params


class ReversalIn(serializers.Serializer):
    request_no = request_no_field()
    memo = StrictCharField(max_length=255, required=False, default="", allow_blank=True)


class RefundIn(serializers.Serializer):
    """Rules across fields: amount is at most what is left to refund of the
    posting (422 refund_exceeds_original), in the posting's currency
    (400 invalid_amount); the posting is a payment within its business
    type's refund window (422 refund_not_allowed, refund_window_passed)."""

    request_no = request_no_field()
    amount = AmountField(help_text="What the payer gets back; each leg of the posting gives back its share.")
    reason = StrictCharField(max_length=255, required=False, default="", allow_blank=True, trim_whitespace=True)


REFUND_STATUSES = ["pending_approval", "posted", "rejected"]


class RefundLegOut(serializers.Serializer):
    original_entry_serial_no = serializers.IntegerField(help_text="The leg (entry) of the refunded posting.")
    account_no = serializers.CharField()
    direction = DirectionField(help_text="The original leg's direction; its refund goes the other way.")
    amount = AmountOut(help_text="What this refund took back from the leg.")
    from_reserve = AmountOut(help_text="The part of it the merchant's reserve account paid.")
    refunded_so_far = AmountOut(help_text="What every posted refund of the posting took back from the leg.")


class RefundOut(serializers.Serializer):
    refund_id = serializers.IntegerField()
    request_no = serializers.CharField()
    status = serializers.ChoiceField(
        choices=REFUND_STATUSES,
        help_text="posted: booked; pending_approval: a late or large refund waiting for a second person at "
        "the ledger; rejected.",
    )
    original_serial_no = serializers.IntegerField(help_text="The refunded posting.")
    posting_serial_no = serializers.IntegerField(allow_null=True, help_text="The refund posting, once posted.")
    amount = AmountOut()
    currency = serializers.CharField()
    needs_approval = serializers.ListField(child=serializers.ChoiceField(choices=["late", "large"]))
    reason = serializers.CharField(allow_blank=True)
    left_to_refund = AmountOut(help_text="What is left to refund of the posting after the posted refunds.")
    created_at = serializers.DateTimeField()
    legs = RefundLegOut(many=True)


class OrderIn(serializers.Serializer):
    """Rules across fields: buyer and merchant are two cash accounts of one
    entity and currency (400 validation_error, same_account; 422
    currency_mismatch, cross_entity); the amounts have no more decimals than
    the currency (400 invalid_amount); commission is at most the amount
    (400 validation_error); the buyer's available balance covers the amount
    (422 insufficient_funds)."""

    request_no = request_no_field()
    order_no = StrictCharField(
        min_length=1, max_length=64, trim_whitespace=True, help_text="The caller's order (trade) number."
    )
    buyer_account_no = account_no_field(help_text="The buyer's cash account; pays the amount into escrow.")
    merchant_account_no = account_no_field(help_text="The merchant's cash account; paid on confirmation.")
    amount = AmountField(help_text="What the buyer pays into escrow.")
    commission = AmountField(
        allow_zero=True, required=False, default="0", help_text="To fee income on confirmation; at most the amount."
    )
    coupon = AmountField(
        allow_zero=True, required=False, default="0", help_text="Added to the merchant's take from the coupon account."
    )
    confirm_within_days = serializers.IntegerField(
        min_value=1,
        max_value=365,
        required=False,
        help_text="Confirmed automatically this many days after payment (default ESCROW_AUTO_CONFIRM_DAYS, 10).",
    )


class OrderStepIn(serializers.Serializer):
    request_no = request_no_field()


class OrderRefundIn(serializers.Serializer):
    """Rules across fields: amount is at most what the order holds (422
    refund_exceeds_escrow); the order is not disputed (409 order_disputed)
    nor closed (422 order_closed)."""

    request_no = request_no_field()
    amount = AmountField(help_text="What the buyer gets back from the order's escrow.")
    reason = StrictCharField(max_length=255, required=False, default="", allow_blank=True, trim_whitespace=True)


class OrderDisputeIn(serializers.Serializer):
    request_no = request_no_field()
    reason = StrictCharField(min_length=1, max_length=255, trim_whitespace=True)


ORDER_RESOLUTIONS = ["continue", "confirm", "refund"]


class OrderResolveIn(serializers.Serializer):
    request_no = request_no_field()
    outcome = serializers.ChoiceField(
        choices=ORDER_RESOLUTIONS,
        help_text="continue: the order is paid again and goes on; confirm: to the merchant now; refund: everything "
        "it holds back to the buyer.",
    )
    reason = StrictCharField(min_length=1, max_length=255, trim_whitespace=True)


ORDER_STATUSES = ["paid", "disputed", "confirmed", "refunded"]
ORDER_EVENT_KINDS = ["pay", "refund", "confirm", "auto_confirm", "dispute", "resolve"]


class OrderEventOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ORDER_EVENT_KINDS)
    amount = AmountOut(help_text="Moved into (pay) or out of (refund, confirm) the order's escrow.")
    commission = AmountOut()
    coupon = AmountOut()
    posting_serial_no = serializers.IntegerField(allow_null=True)
    from_status = serializers.CharField(allow_blank=True)
    to_status = serializers.ChoiceField(choices=ORDER_STATUSES)
    reason = serializers.CharField(allow_blank=True)
    request_no = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class OrderOut(serializers.Serializer):
    order_id = serializers.IntegerField()
    order_no = serializers.CharField()
    request_no = serializers.CharField()
    status = serializers.ChoiceField(
        choices=ORDER_STATUSES,
        help_text="paid and disputed are open (money in escrow); confirmed and refunded are closed (balance 0).",
    )
    currency = serializers.CharField()
    buyer_account_no = serializers.CharField()
    merchant_account_no = serializers.CharField()
    escrow_account_no = serializers.CharField()
    amount = AmountOut()
    commission = AmountOut()
    coupon = AmountOut()
    balance = AmountOut(help_text="What the order holds in escrow now.")
    pay_posting_serial_no = serializers.IntegerField()
    confirm_by = serializers.DateTimeField(help_text="Confirmed automatically from then on, unless disputed.")
    created_at = serializers.DateTimeField()
    events = OrderEventOut(many=True)


class PostingEntryOut(serializers.Serializer):
    serial_no = serializers.IntegerField()
    account_no = serializers.CharField(source="account.account_no")
    direction = DirectionField()
    amount = AmountOut()
    balance_before = NullableAmountOut()
    balance_after = NullableAmountOut()


class PostingOut(serializers.Serializer):
    serial_no = serializers.IntegerField()
    request_no = serializers.CharField()
    business_type = serializers.CharField()
    currency = serializers.CharField()
    accounting_date = serializers.DateField()
    memo = serializers.CharField(allow_blank=True)
    external_ref = serializers.CharField(allow_blank=True)
    reverses = serializers.IntegerField(
        source="reverses_id", allow_null=True, help_text="The posting this one reverses (冲正)."
    )
    corrects_date = serializers.DateField(allow_null=True)
    trade_no = trade_no_out()
    metadata = MetadataField(read_only=True)
    created_at = serializers.DateTimeField()
    entries = PostingEntryOut(many=True, source="api_entries")


class PostingsQuery(serializers.Serializer):
    """The search of GET /api/v1/postings; every filter given must match.
    ``metadata[key]=value`` (any number of keys) and ``from`` are named in
    the view: not identifiers a serializer field can have."""

    request_no = StrictCharField(min_length=1, max_length=64, required=False, help_text="The request number.")
    external_ref = StrictCharField(
        min_length=1, max_length=64, required=False, help_text="A channel serial number or bank reference."
    )
    trade_no = StrictCharField(
        min_length=1, max_length=references.TRADE_NO_MAX, required=False, help_text="Every posting of one trade."
    )
    source_system = serializers.RegexField(
        SOURCE_SYSTEM_PATTERN,
        max_length=32,
        required=False,
        help_text="Postings of one source system; a client without the read scope sees its own only.",
    )
    to = serializers.DateTimeField(
        required=False, help_text="Booked before this instant (exclusive; ISO 8601 with offset)."
    )
    business_type = serializers.ChoiceField(choices=BusinessType.values, required=False)
    entity = StrictCharField(
        min_length=1, max_length=16, required=False, help_text="Accounting entity code (404 when unknown)."
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(
            required=False, help_text="Booked at or after this instant (inclusive; ISO 8601 with offset)."
        )
        return fields

    def validate(self, attrs):
        if "from" in attrs and "to" in attrs and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": "Must be after from."})
        return attrs


class PostingPageOut(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next (older) page; null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous (newer) page; null on the first.")
    results = PostingOut(many=True)


BATCH_STATUSES = ["created", "replayed", "error"]


class BatchItemOut(serializers.Serializer):
    request_no = serializers.CharField()
    status = serializers.ChoiceField(choices=BATCH_STATUSES)
    posting = PostingOut(allow_null=True)
    error = ErrorDetailOut(allow_null=True)


class BatchOut(serializers.Serializer):
    results = BatchItemOut(many=True)


# ---------------------------------------------------------------- holds ----


class HoldIn(WithReferences):
    """Rules across fields: expires_at is in the future (400 validation_error);
    the amount has no more decimals than the account's currency (400
    invalid_amount) and fits its available balance (422 insufficient_funds)."""

    request_no = request_no_field()
    account_no = account_no_field()
    amount = AmountField()
    reason = StrictCharField(min_length=1, max_length=255, trim_whitespace=True)
    expires_at = serializers.DateTimeField(
        required=False,
        help_text="In the future; released automatically after this moment unless settled or released before.",
    )
    trade_no = trade_no_field()
    metadata = MetadataField()

    def validate_expires_at(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class SettleIn(WithReferences):
    """Rules across fields: amount is at most what remains of the hold (422
    hold_exceeded); counter_account_no is another account (400 same_account)
    of the hold's currency and entity (422); the hold is active and not past
    its expiry (422 hold_not_active, hold_expired)."""

    request_no = request_no_field()
    amount = AmountField()
    counter_account_no = account_no_field(help_text="The account credited with the settled amount.")
    business_type = serializers.ChoiceField(choices=POSTING_BUSINESS_TYPES, default="guarantee_settlement")
    memo = StrictCharField(max_length=255, required=False, default="", allow_blank=True)
    external_ref = StrictCharField(max_length=64, required=False, default="", allow_blank=True)
    trade_no = StrictCharField(
        min_length=1,
        max_length=references.TRADE_NO_MAX,
        required=False,
        allow_null=True,
        default=None,
        help_text="Omit (or null) for the hold's trade number.",
    )
    metadata = MetadataField(help_text="Omit (or {}) for the hold's metadata.")


class ReleaseIn(serializers.Serializer):
    """Rules across fields: amount, when given, is at most what remains of the
    hold (422 hold_exceeded); the hold is active (422 hold_not_active,
    hold_expired)."""

    request_no = request_no_field()
    amount = AmountField(required=False, help_text="Omit to release everything that remains.")


class HoldOut(serializers.Serializer):
    hold_id = serializers.IntegerField(source="id")
    request_no = serializers.CharField()
    account_no = serializers.CharField(source="account.account_no")
    currency = serializers.CharField(source="account.currency")
    amount = AmountOut(currency_from="account.currency")
    remaining = AmountOut(currency_from="account.currency")
    status = serializers.CharField()
    reason = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    trade_no = trade_no_out()
    metadata = MetadataField(read_only=True)
    created_at = serializers.DateTimeField()


# ---------------------------------------------------------- withdrawals ----


class BankCardIn(serializers.Serializer):
    holder = StrictCharField(min_length=1, max_length=128, trim_whitespace=True)
    bank = StrictCharField(min_length=1, max_length=64, trim_whitespace=True)
    number = StrictCharField(min_length=1, max_length=32, help_text="12 to 19 digits; spaces and '-' are ignored.")


class WithdrawalIn(WithReferences):
    """Rules across fields: the account is a member's cash account (404, 422);
    amount plus fee fits its available balance (422 insufficient_funds);
    withdrawals are configured for its entity and currency (422
    not_configured); the card number passes its check digit (400
    invalid_card_number)."""

    request_no = request_no_field()
    account_no = account_no_field()
    amount = AmountField(help_text="Paid to the card; the fee is frozen on top of it.")
    bank_card = BankCardIn()
    trade_no = trade_no_field()
    metadata = MetadataField()


class BankCardOut(serializers.Serializer):
    holder = serializers.CharField(source="card_holder")
    bank = serializers.CharField(source="card_bank")
    number_masked = serializers.CharField(source="card_masked")


class WithdrawalEventOut(serializers.Serializer):
    from_status = serializers.CharField(allow_blank=True)
    to_status = serializers.CharField()
    at = serializers.DateTimeField()


class WithdrawalOut(serializers.Serializer):
    withdrawal_id = serializers.IntegerField(source="id")
    request_no = serializers.CharField()
    account_no = serializers.CharField(source="account.account_no")
    member_no = serializers.CharField(source="member.member_no")
    currency = serializers.CharField()
    amount = AmountOut()
    fee = AmountOut()
    status = serializers.CharField()
    bank_card = BankCardOut(source="*")
    closing_reason = serializers.CharField(allow_blank=True, help_text="Why it was rejected or cancelled.")
    settlement_serial_no = serializers.IntegerField(source="settlement_id", allow_null=True)
    trade_no = trade_no_out()
    metadata = MetadataField(read_only=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    history = WithdrawalEventOut(many=True, source="api_history")


# -------------------------------------------------------------- reports ----

GROUP_BY = ["account", "account_type", "subject", "entity"]


class BalanceSheetQuery(serializers.Serializer):
    date = serializers.DateField(required=False, help_text="Accounting date; default the latest with a sheet.")
    entity = StrictCharField(min_length=1, max_length=16, required=False, help_text="Entity code; default all.")
    group_by = serializers.ChoiceField(choices=GROUP_BY, default="account")
    currency = serializers.ChoiceField(choices=list(settings.CURRENCIES), required=False)


class BalanceSheetRowOut(serializers.Serializer):
    entity = serializers.CharField(source="entity__code")
    account_no = serializers.CharField(source="account__account_no", allow_null=True, default=None)
    account_name = serializers.CharField(source="account__name", allow_null=True, default=None)
    account_type = serializers.CharField(source="account_type_code", allow_null=True, default=None)
    subject_code = serializers.CharField(allow_null=True, default=None)
    category = serializers.CharField(allow_null=True, default=None)
    currency = serializers.CharField()
    opening = AmountOut(source="opening_total")
    debit = AmountOut(source="debit_total")
    credit = AmountOut(source="credit_total")
    closing = AmountOut(source="closing_total")
    entries = serializers.IntegerField()
    accounts = serializers.IntegerField()


class BalanceSheetPageOut(serializers.Serializer):
    date = serializers.DateField(allow_null=True, help_text="The accounting date shown; null when no sheet exists yet.")
    group_by = serializers.ChoiceField(choices=GROUP_BY)
    count = serializers.IntegerField(help_text="Rows in the whole sheet.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = BalanceSheetRowOut(many=True)


# ----------------------------------------------------------- agreements ----

AGREEMENT_STATUSES = ["active", "suspended", "revoked", "expired"]
AGREEMENT_STEP_KINDS = ["sign", "suspend", "resume", "revoke", "expire"]
PURPOSE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class AgreementIn(serializers.Serializer):
    """Rules across fields: payer and payee are two accounts of one entity and
    currency, the payer a member's cash account (400 validation_error,
    same_account); max_per_period is at least max_per_debit; a weekly
    agreement's schedule_day is 1-7 (Monday = 1), a monthly one's 1-31 (the
    month's last day in a shorter month), and both need scheduled_amount, at
    most max_per_debit; an on-demand agreement has neither; valid_to is not
    before valid_from nor the open accounting day (400 validation_error).
    The agreement number is unique per source system (409
    idempotency_conflict)."""

    request_no = request_no_field()
    agreement_no = StrictCharField(
        min_length=1, max_length=64, trim_whitespace=True, help_text="The caller's contract number of the mandate."
    )
    payer_account_no = account_no_field(help_text="The member's cash account debited under the agreement.")
    payee_account_no = account_no_field(help_text="The account credited: a merchant's, a credit line, an internal one.")
    purpose = serializers.RegexField(
        PURPOSE_PATTERN, max_length=64, help_text="What the debits pay, e.g. credit_repayment; every debit names it."
    )
    max_per_debit = AmountField(help_text="The most one debit may take.")
    max_per_period = AmountField(help_text="The most all debits of one period (limit_period) may take together.")
    limit_period = serializers.ChoiceField(choices=["day", "week", "month"], default="month")
    frequency = serializers.ChoiceField(
        choices=["on_demand", "weekly", "monthly"],
        default="on_demand",
        help_text="on_demand: each debit is asked for (POST /agreements/{agreement_id}/debits); weekly or monthly: "
        "the ledger debits scheduled_amount on schedule_day and retries what it could not take.",
    )
    schedule_day = serializers.IntegerField(min_value=1, max_value=31, required=False, allow_null=True, default=None)
    scheduled_amount = AmountField(required=False, allow_null=True, default=None)
    allow_partial = serializers.BooleanField(
        default=False, help_text="Short of funds, a debit takes what is available (else nothing)."
    )
    repay = serializers.ChoiceField(
        choices=["full", "minimum"],
        required=False,
        allow_null=True,
        default=None,
        help_text="Purpose credit_repayment only (default full): on each bill's due date the ledger debits what is "
        "left of the bill's amount due (full) or of its minimum due (minimum), the rest retried on "
        "retry_every_days up to max_retries.",
    )
    retry_every_days = serializers.IntegerField(min_value=1, max_value=31, default=1)
    max_retries = serializers.IntegerField(min_value=0, max_value=30, default=3)
    valid_from = serializers.DateField(required=False, allow_null=True, default=None, help_text="Default: today.")
    valid_to = serializers.DateField(required=False, allow_null=True, default=None, help_text="Default: no end.")


class AgreementStepIn(serializers.Serializer):
    request_no = request_no_field()
    reason = StrictCharField(
        min_length=1, max_length=255, trim_whitespace=True, help_text="Why (the member's words, or the system's)."
    )


class AgreementResumeIn(serializers.Serializer):
    request_no = request_no_field()
    reason = StrictCharField(max_length=255, required=False, default="", allow_blank=True, trim_whitespace=True)


class AgreementDebitIn(serializers.Serializer):
    """Rules across fields: purpose is the agreement's, the agreement is
    active on the open accounting day (422 no_agreement); amount is within
    max_per_debit and what is left of the period's max_per_period (422
    agreement_limit_exceeded); the payer's available balance covers it
    (422 insufficient_funds) unless partial debits are allowed."""

    request_no = request_no_field(
        help_text="The caller's request number; the settlement posting carries it. A refused debit does not use "
        "it up: sent again, it is tried again."
    )
    amount = AmountField()
    purpose = serializers.RegexField(PURPOSE_PATTERN, max_length=64)
    allow_partial = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Default: the agreement's allow_partial."
    )


class AgreementStepOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AGREEMENT_STEP_KINDS)
    from_status = serializers.CharField(allow_blank=True)
    to_status = serializers.ChoiceField(choices=AGREEMENT_STATUSES)
    reason = serializers.CharField(allow_blank=True)
    actor = serializers.CharField()
    request_no = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class AgreementOut(serializers.Serializer):
    agreement_id = serializers.IntegerField(source="pk")
    agreement_no = serializers.CharField()
    request_no = serializers.CharField()
    status = serializers.ChoiceField(choices=AGREEMENT_STATUSES)
    currency = serializers.CharField()
    payer_account_no = serializers.CharField(source="payer_account.account_no")
    payee_account_no = serializers.CharField(source="payee_account.account_no")
    purpose = serializers.CharField()
    max_per_debit = AmountOut()
    max_per_period = AmountOut()
    limit_period = serializers.CharField()
    frequency = serializers.CharField()
    schedule_day = serializers.IntegerField(allow_null=True)
    scheduled_amount = NullableAmountOut()
    allow_partial = serializers.BooleanField()
    repay = serializers.CharField(allow_blank=True, help_text="full or minimum: a credit repayment agreement's choice.")
    retry_every_days = serializers.IntegerField()
    max_retries = serializers.IntegerField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    history = AgreementStepOut(many=True, source="history_rows")


class DebitAttemptOut(serializers.Serializer):
    attempt_id = serializers.IntegerField(source="pk")
    agreement_id = serializers.IntegerField()
    request_no = serializers.CharField()
    purpose = serializers.CharField()
    currency = serializers.CharField(source="agreement.currency")
    amount_asked = AmountOut(currency_from="agreement.currency")
    amount_taken = AmountOut(
        currency_from="agreement.currency", help_text="Less than asked only when partial debits are allowed."
    )
    outcome = serializers.ChoiceField(choices=["taken", "partial"])
    code = serializers.CharField(allow_blank=True, help_text="insufficient_funds when partly taken.")
    posting_serial_no = serializers.IntegerField(source="posting_id", help_text="Dr payer / Cr payee, agreement_debit.")
    hold_id = serializers.IntegerField(help_text="The hold the debit froze and settled.")
    accounting_date = serializers.DateField()
    created_at = serializers.DateTimeField()
