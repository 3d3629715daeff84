"""Files imported whole or not at all (a GL trial balance, a channel
statement): every problem found is collected, up to ``MAX_PROBLEMS`` at once
so that a file is fixed in one round, and the file is refused naming them."""

from __future__ import annotations

from accounts.kernel.errors import LedgerValidationError

MAX_PROBLEMS = 20


class FileRefused(LedgerValidationError):
    """The file is refused whole; ``problems`` lists each one with where it is."""

    subject = "file"

    def __init__(self, problems: list[str], more: int = 0):
        self.problems = problems
        self.more = more  # problems found beyond the first MAX_PROBLEMS
        message = f"The {self.subject} was not imported: " + "; ".join(problems)
        if more:
            message += f"; and {more} more problem{'s' if more > 1 else ''}"
        super().__init__(message + ".", problems=problems)


class Problems:
    """The problems of one file, refused with ``refusal`` if there are any."""

    def __init__(self, refusal: type[FileRefused]):
        self.refusal = refusal
        self.items: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(text)
        else:
            self.more += 1

    @property
    def count(self) -> int:
        return len(self.items) + self.more

    def raise_if_any(self) -> None:
        if self.items:
            raise self.refusal(self.items, self.more)
