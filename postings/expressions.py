"""The amount of a posting rule's leg (``PostingRuleLeg.amount_expr``): a
small grammar, parsed here and never handed to Python's ``eval``.

    expression := term (("+" | "-") term)*
    term       := parameter | constant
    parameter  := a lower-case name, e.g. amount, fee, coupon_amount
    constant   := a decimal number, e.g. 2 or 0.50 (in the posting's currency)

Nothing else is accepted: no calls, attributes, brackets, multiplication or
names with capitals or leading underscores. An expression is therefore a
sum of parameters and constants with coefficients +1 or -1, a *linear
amount*, and that is what makes the balance check exact: a rule balances
for every input precisely when its debit legs and its credit legs add up to
the same linear amount (``rule_balance_problem``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from accounts.kernel.errors import LedgerValidationError

TOKEN = re.compile(r"\s*(?:(?P<name>[a-z][a-z0-9_]{0,31})|(?P<number>\d{1,12}(?:\.\d{1,4})?)|(?P<op>[+-]))")
MAX_LENGTH = 64


class InvalidAmountExpression(LedgerValidationError):
    code = "invalid_amount_expression"
    default_message = "The amount must be parameters and constants joined by + and -, e.g. amount+fee."


@dataclass(frozen=True)
class LinearAmount:
    """constant + sum(coefficient * parameter)."""

    terms: Mapping[str, int] = field(default_factory=dict)
    constant: Decimal = Decimal(0)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, coefficient in self.terms.items() if coefficient)

    def plus(self, other: LinearAmount, sign: int = 1) -> LinearAmount:
        terms = dict(self.terms)
        for name, coefficient in other.terms.items():
            terms[name] = terms.get(name, 0) + sign * coefficient
        return LinearAmount({n: c for n, c in terms.items() if c}, self.constant + sign * other.constant)

    def evaluate(self, values: Mapping[str, Decimal]) -> Decimal:
        return self.constant + sum((c * values[n] for n, c in self.terms.items()), Decimal(0))

    def __str__(self) -> str:
        parts = [
            f"{'-' if c < 0 else '+'}{'' if abs(c) == 1 else f'{abs(c)}×'}{n}" for n, c in sorted(self.terms.items())
        ]
        if self.constant:
            parts.append(f"{'-' if self.constant < 0 else '+'}{abs(self.constant)}")
        text = " ".join(parts).lstrip("+") or "0"
        return text.replace(" +", " + ").replace(" -", " - ")


def parse_amount(text: str) -> LinearAmount:
    """The linear amount ``text`` states, or ``InvalidAmountExpression`` with
    a sentence saying where it stops making sense."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidAmountExpression("The amount is empty: name a parameter, e.g. amount.", amount_expr=text)
    if len(text) > MAX_LENGTH:
        raise InvalidAmountExpression(f"The amount is longer than {MAX_LENGTH} characters.", amount_expr=text[:80])
    result, sign, expect_term, position = LinearAmount(), 1, True, 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = TOKEN.match(stripped, position)
        if match is None:
            bad = stripped[position:].lstrip()[:1]
            raise InvalidAmountExpression(
                f"The amount {text!r} contains {bad!r}: only parameter names, numbers, + and - are allowed.",
                amount_expr=text,
            )
        position = match.end()
        name, number, op = match.group("name", "number", "op")
        if expect_term and op:
            raise InvalidAmountExpression(
                f"The amount {text!r} has {op!r} where a parameter or a number belongs.", amount_expr=text
            )
        if not expect_term and not op:
            raise InvalidAmountExpression(
                f"The amount {text!r} needs + or - between {match.group().strip()!r} and what comes before it.",
                amount_expr=text,
            )
        if op:
            sign, expect_term = (1 if op == "+" else -1), True
            continue
        term = LinearAmount({name: 1}) if name else LinearAmount({}, Decimal(number))
        result, expect_term = result.plus(term, sign), False
    if expect_term:
        raise InvalidAmountExpression(f"The amount {text!r} ends with an operator.", amount_expr=text)
    return result


def rule_balance_problem(legs: Iterable[tuple[str, str]]) -> str | None:
    """Why a rule with these ``(direction, amount expression)`` legs cannot
    balance for every input, in a finance sentence; None when it always does.

    Legs that come to zero are left out of a posting, which does not upset a
    balance that holds as an identity."""
    debits, credits, has_debit, has_credit = LinearAmount(), LinearAmount(), False, False
    for direction, expression in legs:
        amount = parse_amount(expression)
        if direction == "D":
            debits, has_debit = debits.plus(amount), True
        else:
            credits, has_credit = credits.plus(amount), True
    if not has_debit or not has_credit:
        return "A posting rule needs at least one debit leg and one credit leg (借贷必相等): every posting would be refused."
    difference = debits.plus(credits, -1)
    if difference.terms or difference.constant:
        return (
            f"The debits ({debits}) and the credits ({credits}) of this rule are not equal for every input "
            f"(debits minus credits = {difference}): every posting through it would be refused as unbalanced."
        )
    return None
