"""The amount grammar of posting rules and the balance check (issue 19 §1):
amounts are parsed, never evaluated as Python, and a rule whose legs cannot
balance for every input is refused in a sentence finance can act on."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postings.expressions import InvalidAmountExpression, LinearAmount, parse_amount, rule_balance_problem


@pytest.mark.parametrize(
    "text, terms, constant",
    [
        ("amount", {"amount": 1}, "0"),
        ("amount+fee", {"amount": 1, "fee": 1}, "0"),
        (" amount + fee ", {"amount": 1, "fee": 1}, "0"),
        ("amount-fee", {"amount": 1, "fee": -1}, "0"),
        ("amount - coupon_amount + 2.50", {"amount": 1, "coupon_amount": -1}, "2.50"),
        ("amount+amount", {"amount": 2}, "0"),
        ("fee-fee", {}, "0"),
        ("5", {}, "5"),
    ],
)
def test_the_grammar_reads_parameters_constants_plus_and_minus(text, terms, constant):
    assert parse_amount(text) == LinearAmount(terms, Decimal(constant))


@pytest.mark.parametrize(
    "hostile",
    [
        "__import__('os').system('id')",
        "amount.__class__",
        "amount * 2",
        "amount/2",
        "(amount)",
        "amount+",
        "+amount",
        "-amount",
        "amount fee",
        "Amount",
        "_amount",
        "amount;fee",
        "lambda: 1",
        "amount\nfee",
        "1e9",
        "amount+" + "a" * 60,
        "",
        "   ",
        "ａｍｏｕｎｔ",  # full-width letters
    ],
)
def test_anything_else_is_refused_and_never_run(hostile, monkeypatch):
    import builtins

    def no_eval(*args, **kwargs):
        raise AssertionError("the grammar must not evaluate Python")

    monkeypatch.setattr(builtins, "eval", no_eval)
    monkeypatch.setattr(builtins, "exec", no_eval)
    with pytest.raises(InvalidAmountExpression) as refused:
        parse_amount(hostile)
    assert refused.value.code == "invalid_amount_expression"


def test_the_refusal_names_what_is_wrong():
    with pytest.raises(InvalidAmountExpression, match=r"contains '_': only parameter names, numbers, \+ and -"):
        parse_amount("__import__('os').system('id')")
    with pytest.raises(InvalidAmountExpression, match=r"contains '\*'"):
        parse_amount("amount * 2")


def test_evaluate_adds_and_subtracts():
    assert parse_amount("amount-fee+1").evaluate({"amount": Decimal("100"), "fee": Decimal("2.5")}) == Decimal("98.5")


# ---------------------------------------------------------------- balance ----

WITHDRAWAL = [("D", "amount+fee"), ("C", "amount"), ("C", "fee")]


@pytest.mark.parametrize(
    "legs",
    [
        [("D", "amount"), ("C", "amount")],
        WITHDRAWAL,
        [("D", "amount"), ("C", "amount-fee"), ("C", "fee")],
        [("D", "amount+2"), ("C", "amount"), ("C", "2")],
        [("C", "fee+amount"), ("D", "fee"), ("D", "amount")],
    ],
)
def test_rules_that_balance_for_every_input_pass(legs):
    assert rule_balance_problem(legs) is None


@pytest.mark.parametrize(
    "legs, said",
    [
        ([("D", "amount")], "at least one debit leg and one credit leg"),
        ([("C", "amount"), ("C", "fee")], "at least one debit leg and one credit leg"),
        ([("D", "amount+amount"), ("C", "amount")], "The debits (2×amount) and the credits (amount)"),
        ([("D", "amount+fee"), ("C", "amount")], "debits minus credits = fee"),
        ([("D", "amount"), ("C", "amount"), ("C", "1")], "debits minus credits = -1"),
        ([("D", "amount"), ("C", "principal")], "debits minus credits = amount - principal"),
    ],
)
def test_rules_that_cannot_balance_are_explained(legs, said):
    problem = rule_balance_problem(legs)
    assert problem is not None
    assert said in problem
    assert "refused as unbalanced" in problem or "every posting would be refused" in problem


def test_amount_times_two_is_refused_by_the_grammar_before_the_balance():
    with pytest.raises(InvalidAmountExpression):
        rule_balance_problem([("D", "amount * 2"), ("C", "amount")])
