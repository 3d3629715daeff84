"""Questions a lower floor asks and the floors above answer.

``accounts`` imports nothing above it, yet some of its rules depend on what
is built on top: an account with active holds (postings) must not close.
The lower floor declares a ``Hook`` and asks it; the floor that knows the
answer registers a function when its app is ready (``AppConfig.ready``).
The question is named where it is asked, the answer where it is known, and
no import runs upwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    def __init__(self, question: str):
        self.question = question
        self._answers: list[Callable[..., Any]] = []

    def register(self, answer: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``answer`` (once; usable as a decorator)."""
        if answer not in self._answers:
            self._answers.append(answer)
        return answer

    def answers(self, *args, **kwargs) -> list[Any]:
        """Every registered answer, in the order they were registered."""
        return [answer(*args, **kwargs) for answer in self._answers]

    def __repr__(self) -> str:
        return f"<Hook {self.question!r}: {len(self._answers)} answer(s)>"
