"""Money arithmetic for the ledger: Decimal only, never float.

Amounts are stored with four decimal places so that currencies with up to
four minor digits fit one column; each currency's own exponent (CNY 2, JPY 0,
BHD 3, from ISO 4217 via babel, which py-moneyed ships with) decides what a
valid amount is.

``parse_amount`` is the one reader of an amount written as text (the API,
forms, the GL import, channel statements): plain ASCII digits, an optional
sign and decimal point, and thousands commas where the source writes them.
No exponent (``1e3``), no full-width or other scripts' digits (``１００``),
no NaN or Infinity: each is refused with ``InvalidAmount``, never guessed.

``format_amount`` is the one writer of an amount for people (staff pages,
the admin, messages): thousands commas, the currency's own minor units
(``16,760.47``, never ``16760.4700``; JPY ``1,235``), a plain minus sign.
``format_money`` puts the currency code in front, for an amount that stands
alone; in a table the code is said once per column or row instead.
``as_money`` values print the same way, so an f-string in a message does too.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache

from babel.numbers import get_currency_precision, list_currencies
from django.utils.html import format_html
from django.utils.safestring import SafeString
from djmoney.money import Money

from .errors import InvalidAmount

AMOUNT_MAX_DIGITS = 20
AMOUNT_DECIMAL_PLACES = 4
ZERO = Decimal("0")

__all__ = [
    "Money",
    "ZERO",
    "AMOUNT_PATTERN",
    "POSITIVE_AMOUNT_PATTERN",
    "parse_amount",
    "to_amount",
    "amount_and_places",
    "currencies_with_fewer_places",
    "currency_places",
    "as_money",
    "format_amount",
    "format_money",
    "amount_html",
]


# [0-9], not \d: \d also matches full-width and other scripts' digits,
# which Decimal() would then silently read as numbers.
_PLAIN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_PLAIN_GROUPED = re.compile(r"[+-]?([0-9]+|[0-9]{1,3}(,[0-9]{3})+)(\.[0-9]+)?")

# An amount as the API takes it: the subset of what parse_amount reads that
# to_amount then accepts at the ledger's four places, written without sign
# or grouping. The API's AmountField applies these and its OpenAPI schema
# publishes them verbatim, so a client's validator and the server agree on
# every string. (The lookahead is ECMA 262 and Python alike: some digit is
# not 0.) A currency with fewer places is a further check (invalid_amount).
_INTEGER_DIGITS = AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES
AMOUNT_PATTERN = rf"^[0-9]{{1,{_INTEGER_DIGITS}}}(\.[0-9]{{1,{AMOUNT_DECIMAL_PLACES}}})?$"
POSITIVE_AMOUNT_PATTERN = "^(?=[0-9.]*[1-9])" + AMOUNT_PATTERN[1:]


def parse_amount(text: str, *, field: str = "amount", grouped: bool = False) -> Decimal:
    """The Decimal an amount written as text stands for, or InvalidAmount.

    Only plain decimal writing is read: ASCII digits, an optional sign and
    at most one decimal point with digits on both sides; ``grouped`` also
    reads thousands commas (statements and spreadsheets write ``1,234.50``).
    Nothing is trimmed. Whether the amount suits the ledger (positive,
    places, size) is ``to_amount``'s question, not this one's.
    """
    pattern = _PLAIN_GROUPED if grouped else _PLAIN
    if not isinstance(text, str) or not pattern.fullmatch(text):
        raise InvalidAmount(
            f"{field}: {text!r} is not a number (plain digits with an optional sign and decimal point; "
            "no exponent, no spaces, no digits of other scripts).",
            **{field: text},
        )
    return Decimal(text.replace(",", "") if grouped else text)


def currency_places(currency: str) -> int:
    return min(get_currency_precision(currency), AMOUNT_DECIMAL_PLACES)


def to_amount(value, currency: str, *, field: str = "amount", allow_zero: bool = False) -> Decimal:
    """A valid, positive amount in ``currency`` as a Decimal, or InvalidAmount.

    Floats are refused outright: 0.1 + 0.2 is not 0.3 and a ledger must not
    guess. Strings and ints are accepted because that is what JSON and forms
    deliver.
    """
    return _amount(value, currency_places(currency), currency, field=field, allow_zero=allow_zero)


def amount_and_places(value, *, field: str = "amount") -> tuple[Decimal, int]:
    """to_amount before the currency is known: the amount, refused as
    to_amount refuses it (at most the ledger's four places), and the decimal
    places it uses, to be checked against the currency's own once that is
    known (currencies_with_fewer_places)."""
    amount = _amount(value, AMOUNT_DECIMAL_PLACES, "the ledger", field=field, allow_zero=False)
    return amount, max(0, -amount.normalize().as_tuple().exponent)


@cache
def currencies_with_fewer_places(places: int) -> tuple[str, ...]:
    """The currencies in which an amount with ``places`` decimals is not valid."""
    return tuple(sorted(code for code in list_currencies() if currency_places(code) < places))


def _amount(value, places: int, currency: str, *, field: str, allow_zero: bool) -> Decimal:
    if isinstance(value, Money):
        value = value.amount
    if isinstance(value, float) or isinstance(value, bool):
        raise InvalidAmount(
            f"{field}: floats are not accepted for money, pass a Decimal or a string.", **{field: value}
        )
    if isinstance(value, str):
        amount = parse_amount(value, field=field)
    else:
        try:
            amount = Decimal(value) if not isinstance(value, Decimal) else value
        except (InvalidOperation, TypeError, ValueError):
            raise InvalidAmount(f"{field}: {value!r} is not a number.", **{field: value}) from None
    if not amount.is_finite():
        raise InvalidAmount(f"{field}: {value!r} is not a finite number.", **{field: value})
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(f"{field}: must be greater than zero, got {amount}.", **{field: value})
    if amount.adjusted() >= AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES:
        raise InvalidAmount(f"{field}: {amount} is too large.", **{field: value})
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise InvalidAmount(
            f"{field}: {currency} allows at most {places} decimal places, got {amount}.", **{field: value}
        )
    return amount.quantize(Decimal(1).scaleb(-AMOUNT_DECIMAL_PLACES))


def format_amount(amount, currency: str, *, zero: str | None = None) -> str:
    """``amount`` as finance reads it in ``currency``: ``-16,760.47``.

    ``zero`` replaces a zero amount (sheets show "—" there, so the numbers
    that matter stand out)."""
    if isinstance(amount, Money):
        amount = amount.amount
    places = currency_places(currency)
    value = Decimal(amount).quantize(Decimal(1).scaleb(-places))
    if value == 0:
        if zero is not None:
            return zero
        value = abs(value)  # never "-0.00"
    return f"{value:,.{places}f}"


def format_money(amount, currency: str) -> str:
    """``CNY -16,760.47``: an amount with its currency code, for one that
    stands alone (a message, a detail page)."""
    return f"{currency} {format_amount(amount, currency)}"


def amount_html(amount, currency: str, *, zero: str | None = None, code: bool = False) -> SafeString:
    """The one HTML form of an amount, for the staff pages (the ``money``
    filters) and the admin (``kernel.admin.money``): a span that CSS aligns
    and colours (``amt neg`` red), with the code in front if ``code``.
    No amount at all (None, "") is a dash, not a zero."""
    if amount is None or amount == "":
        return format_html('<span class="amt none">{}</span>', "–")
    if isinstance(amount, Money):
        amount = amount.amount
    text = format_money(amount, currency) if code else format_amount(amount, currency, zero=zero)
    negative = Decimal(amount).quantize(Decimal(1).scaleb(-currency_places(currency))) < 0
    return format_html('<span class="{}">{}</span>', "amt neg" if negative else "amt", text)


class LedgerMoney(Money):
    """djmoney's Money, printed the house way (``CNY 1,234.50``) instead of
    by locale (``CN¥1,234.50``), wherever it is turned into text."""

    def __str__(self) -> str:
        return format_money(self.amount, str(self.currency))

    def __html__(self) -> SafeString:
        return amount_html(self.amount, str(self.currency), code=True)


def as_money(amount: Decimal, currency: str) -> Money:
    return LedgerMoney(amount.quantize(Decimal(1).scaleb(-currency_places(currency))), currency)
