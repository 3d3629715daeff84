"""The demo's console (issue 19 §5): a refused page logs its one line, no
traceback; the tasks the demo runs in-process print no "succeeded" line,
and a task that fails is still raised to whoever ran it. Read from the log records as
the console's handler formats them."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from postings.management.commands.rundemo import demo_console_quiet
from tests.reports.reporting import staff_user

pytestmark = pytest.mark.django_db

CONSOLE = logging.Formatter("%(levelname)s %(name)s %(message)s")


def console(caplog) -> str:
    return "\n".join(CONSOLE.format(record) for record in caplog.records)


@pytest.fixture
def demo_console():
    """The console as rundemo leaves it, put back afterwards."""
    loggers = [logging.getLogger(name) for name in ("celery.app.trace", "kombu.connection")]
    levels = [logger.level for logger in loggers]
    demo_console_quiet()
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def test_a_refused_page_logs_one_line_and_no_traceback(caplog):
    client = Client()
    client.force_login(staff_user("auditor_c", "Auditor"))
    with caplog.at_level(logging.INFO):
        assert client.get(reverse("withdrawals:review")).status_code == 403
    text = console(caplog)
    assert f"WARNING django.request Forbidden (Permission denied): {reverse('withdrawals:review')}" in text
    assert "Traceback" not in text and "PermissionDenied" not in text


def test_the_demo_prints_no_task_success_lines_but_prints_failures(demo_console, caplog):
    from accounts.kernel.tasks import send_task

    with caplog.at_level(logging.INFO):
        assert send_task("accounts.kernel.tasks.pending_tasks_send").get() == 0  # in-process, as in the demo
    assert "succeeded" not in console(caplog)

    # A failure is not hidden: it reaches whoever ran the task (a page: a
    # logged 500 with its traceback), and Celery's own errors still print.
    with pytest.raises(Exception, match="Channel matching query does not exist"):
        send_task("reports.tasks.channel_recon_run", ("nosuch", date(2026, 1, 1).isoformat()))
    assert logging.getLogger("celery.app.trace").isEnabledFor(logging.ERROR)


def test_without_the_demo_quiet_celery_would_print_each_success(caplog):
    """What demo_console_quiet is for (so the test above can fail)."""
    from accounts.kernel.tasks import send_task

    with caplog.at_level(logging.INFO):
        send_task("accounts.kernel.tasks.pending_tasks_send").get()
    assert "INFO celery.app.trace Task accounts.kernel.tasks.pending_tasks_send" in console(caplog)
    assert "succeeded" in console(caplog)
