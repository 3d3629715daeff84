"""Bank gateways (银企直联): how a payment instruction reaches a bank.

A gateway implements ``BankGateway``: ``send`` hands the bank an order and
returns the bank's acceptance reference; the outcome arrives later, by a
callback the gateway turns into ``services.payout_answer_record``, or by
``query`` when the periodic job asks. Register an implementation under a key
in ``settings.BANK_GATEWAYS``; a ``PayingBank`` names the key it uses.

The one implementation shipped is the sandbox bank (``withdrawals/sandbox.py``,
with the task that plays its callbacks). It answers deterministically by the
last four digits of the card number:

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


SUCCEEDED, FAILED, PROCESSING = "succeeded", "failed", "processing"
