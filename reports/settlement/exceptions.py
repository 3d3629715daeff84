"""Refusals of settlement (each with a stable code, docs/api.md)."""

from __future__ import annotations

from accounts.kernel.errors import LedgerError, LedgerValidationError


class NoSettlementTerm(LedgerError):
    code = "no_settlement_term"
    http_status = 404
    default_message = "The account is not a merchant account settled T+N."


class ChannelNotSetUp(LedgerError):
    code = "channel_settlement_not_set_up"
    default_message = "The channel has no settlement setup (bank and fee accounts)."


class NothingToSettle(LedgerError):
    code = "nothing_to_settle"
    default_message = "The channel has no unsettled entries up to the cut-off."


class CutOffInFuture(LedgerValidationError):
    code = "cut_off_in_future"
    default_message = "A settlement's cut-off is a moment that has passed."


class ReserveBalanceExists(LedgerError):
    code = "reserve_balance_exists"
    http_status = 409
    default_message = "The bank account's balance for that day is already recorded."


class ReserveFileInvalid(LedgerValidationError):
    code = "reserve_file_invalid"
    default_message = "The reserve-fund balance file is refused."

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"The file is refused: {'; '.join(problems[:5])}", problems=len(problems))
