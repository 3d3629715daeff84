"""Work after a commit is queued by task name (accounts/kernel/tasks.py): services
never import reports.tasks (the circle import -> tasks -> inbox -> import is
gone), the task is queued only once the transaction commits, and a process
that never imported the tasks module still finds the task by its name."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.db import transaction

from accounts.kernel.tasks import enqueue_on_commit

REPORTS = Path(settings.BASE_DIR) / "reports"
MATCHING = "reports.tasks.channel_recon_run"


def imported_modules(path: Path, text: str | None = None) -> set[str]:
    """Every module ``path`` (or ``text`` as if it were there) imports,
    relative imports made absolute."""
    package = ".".join(path.relative_to(REPORTS.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_no_module_of_reports_but_the_tasks_module_imports_the_tasks():
    modules = [p for p in REPORTS.rglob("*.py") if p != REPORTS / "tasks.py"]
    assert len(modules) > 40  # the walk found the packages
    importers = sorted(str(p.relative_to(REPORTS)) for p in modules if "reports.tasks" in imported_modules(p))
    assert importers == []


def test_the_checker_sees_every_form_of_importing_the_tasks():
    """What the test above relies on: the forms the old code used are seen."""
    for where, source in [
        (REPORTS / "probe.py", "from . import tasks"),
        (REPORTS / "channel" / "probe.py", "from .. import tasks"),
        (REPORTS / "channel" / "probe.py", "from ..tasks import channel_recon_run"),
        (REPORTS / "eod" / "probe.py", "from reports.tasks import eod_run_day"),
        (REPORTS / "eod" / "probe.py", "import reports.tasks"),
    ]:
        assert "reports.tasks" in imported_modules(where, source), source
    assert "reports.tasks" not in imported_modules(REPORTS / "eod" / "probe.py", "from . import services")


class StandIn:
    def __init__(self):
        self.calls = []

    def delay(self, *args, **kwargs):
        self.calls.append((args, kwargs))


@pytest.mark.django_db
def test_the_task_is_queued_by_name_once_the_transaction_commits(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setitem(current_app.tasks, MATCHING, stand_in := StandIn())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            enqueue_on_commit(MATCHING, "epaysim", "2026-11-20")
            assert stand_in.calls == []  # not before the commit
    assert len(callbacks) == 1
    assert stand_in.calls == [(("epaysim", "2026-11-20"), {})]


@pytest.mark.django_db
def test_nothing_is_queued_when_the_transaction_rolls_back(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setitem(current_app.tasks, MATCHING, stand_in := StandIn())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            enqueue_on_commit(MATCHING, "epaysim", "2026-11-20")
            raise ZeroDivisionError
    assert callbacks == [] and stand_in.calls == []


def test_a_process_that_never_imported_the_tasks_finds_them_by_name():
    """A web process imports no tasks module; the name must still resolve
    (Celery's autodiscovery, asked for when the registry lacks it)."""
    script = (
        "import sys, django; django.setup()\n"
        "assert 'reports.tasks' not in sys.modules\n"
        "from accounts.kernel.tasks import task_by_name\n"
        "print(task_by_name('reports.tasks.eod_run_day').name)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "reports.tasks.eod_run_day"
