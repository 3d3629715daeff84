"""The monthly statements job through a real Celery worker on Redis, as beat
sends it on the 1st: October's statements made on the worker, and the job
sent again (beat's retries on the 2nd and 3rd) makes none twice."""

from __future__ import annotations

import hashlib

import pytest

from postings.models import MonthlyStatement
from tests import pdftext

from .statement_books import OCTOBER, october_books

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_the_beat_job_makes_octobers_statements_once_on_the_worker(ledger, celery_worker_on_redis):
    run = celery_worker_on_redis
    books = october_books(ledger)

    assert run("postings.tasks.monthly_statements_generate", OCTOBER.isoformat()) == 3
    made = {s.account_id: s for s in MonthlyStatement.objects.all()}
    assert set(made) == {books.alice.pk, books.bob.pk, books.carol.pk}
    assert {s.generated_by for s in made.values()} == {"system:monthly-statements"}
    alice = made[books.alice.pk]
    assert hashlib.sha256(bytes(alice.pdf)).hexdigest() == alice.sha256
    paper = pdftext.statement(bytes(alice.pdf))
    assert (paper.opening, paper.closing, paper.entry_count) == books.expected["alice"][:1] + books.expected["alice"][
        3:
    ]

    assert run("postings.tasks.monthly_statements_generate", OCTOBER.isoformat()) == 0
    assert MonthlyStatement.objects.count() == 3
    assert MonthlyStatement.objects.get(pk=alice.pk).sha256 == alice.sha256
