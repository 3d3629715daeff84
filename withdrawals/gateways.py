"""Bank gateways (银企直联): how a payment instruction reaches a bank.

A gateway implements ``BankGateway``: ``send`` hands the bank an order and
returns the bank's acceptance reference; the outcome arrives later, by a
callback the gateway turns into ``services.payout_answer_record``, or by
``query`` when the periodic job asks. Register an implementation under a key
in ``settings.BANK_GATEWAYS``; a ``PayingBank`` names the key it uses.

The one implementation shipped is the sandbox bank. It answers
deterministically by the last four digits of the card number:

=========  ==============================================================
``0000``   refused: the card is closed at the bank (卡已销户)
``1111``   refused: the holder name does not match the card (户名不符)
``3333``   the first attempt is refused (bank busy), any retry is paid
``2222``   paid, and the callback arrives twice
``9999``   no callback at all; a query answers paid
``8888``   no callback at all; a query answers refused (card frozen)
``7777``   no callback; a query answers "processing" for ever (stuck)
otherwise  paid, one callback
=========  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string


class GatewayUnavailable(Exception):
    """The bank could not be reached; the instruction's fate is unknown
    until it is queried."""


@dataclass(frozen=True)
class PaymentOrder:
    instruction_no: str
    attempt: int
    bank_code: str
    amount: Decimal
    currency: str
    card_holder: str
    card_bank: str
    card_number: str


@dataclass(frozen=True)
class BankAnswer:
    outcome: str  # "succeeded", "failed" or "processing"
    bank_ref: str = ""
    reason: str = ""


class BankGateway(Protocol):
    def send(self, order: PaymentOrder) -> str: ...

    def query(self, order: PaymentOrder) -> BankAnswer: ...


def gateway_for(key: str) -> BankGateway:
    return import_string(settings.BANK_GATEWAYS[key])()


# ----------------------------------------------------------- the sandbox ----

SUCCEEDED, FAILED, PROCESSING = "succeeded", "failed", "processing"


def sandbox_answer(order: PaymentOrder) -> BankAnswer:
    """What the sandbox bank decides for an order, from its card number."""
    tail = order.card_number[-4:]
    ref = f"SBX-{order.instruction_no}"
    if tail == "0000":
        return BankAnswer(FAILED, ref, "card closed at the bank (卡已销户)")
    if tail == "1111":
        return BankAnswer(FAILED, ref, "holder name does not match the card (户名不符)")
    if tail == "3333" and order.attempt == 1:
        return BankAnswer(FAILED, ref, "bank busy, try again (银行繁忙)")
    if tail == "8888":
        return BankAnswer(FAILED, ref, "card frozen by the bank (卡片冻结)")
    if tail == "7777":
        return BankAnswer(PROCESSING, ref)
    return BankAnswer(SUCCEEDED, ref)


def sandbox_callbacks(order: PaymentOrder) -> int:
    """How many times the sandbox bank calls back for an order."""
    tail = order.card_number[-4:]
    if tail in {"9999", "8888", "7777"}:
        return 0
    return 2 if tail == "2222" else 1


class SandboxBank:
    """Accepts every instruction and calls back after
    ``settings.SANDBOX_BANK_CALLBACK_SECONDS`` through a Celery task, as a
    bank's asynchronous notification would arrive."""

    def send(self, order: PaymentOrder) -> str:
        from .tasks import sandbox_bank_callback

        delay = settings.SANDBOX_BANK_CALLBACK_SECONDS
        for _ in range(sandbox_callbacks(order)):
            transaction.on_commit(
                lambda: sandbox_bank_callback.apply_async(args=[order.instruction_no], countdown=delay)
            )
        return f"SBX-{order.instruction_no}"

    def query(self, order: PaymentOrder) -> BankAnswer:
        return sandbox_answer(order)
