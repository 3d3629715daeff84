"""The demo's database is the embedded PostgreSQL (config/embedded_db.py):
with no DATABASE_URL, a small demo is seeded there and its days are closed,
with the same migrations, triggers and functions as production."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

FACTS = """
import json
from django.db import connection
with connection.cursor() as c:
    c.execute("SELECT status, COUNT(*) FROM reports_eodrun GROUP BY status")
    runs = dict(c.fetchall())
    c.execute("SELECT COUNT(*) FROM reports_checkresult WHERE NOT passed")
    failed_checks = c.fetchone()[0]
    c.execute('''
        SELECT COUNT(*) FROM reports_dailybalance b
         WHERE b.entry_count > 0
           AND b.closing <> (SELECT e.balance_after FROM postings_entry e
                              WHERE e.account_id = b.account_id AND e.accounting_date = b.accounting_date
                                AND e.account_seq IS NOT NULL
                              ORDER BY e.account_seq DESC LIMIT 1)''')
    off = c.fetchone()[0]
    c.execute("SELECT COUNT(*) FROM reports_voucher")
    vouchers = c.fetchone()[0]
    c.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = 'postings_entry'::regclass")
    entry_triggers = sorted(r[0] for r in c.fetchall())
print(json.dumps({"vendor": connection.vendor, "runs": runs, "failed_checks": failed_checks, "off": off,
                  "vouchers": vouchers, "entry_triggers": entry_triggers}))
"""


def test_the_embedded_demo_closes_its_days_on_the_embedded_postgresql(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        LEDGER_VAR_DIR=str(tmp_path),
        LOG_LEVEL="WARNING",
        CELERY_BROKER_URL="",
    )
    manage = [sys.executable, "manage.py"]

    def run(*args):
        done = subprocess.run(
            manage + list(args), cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    first = run("migrate", "-v", "0")
    assert "Embedded PostgreSQL" in first.stderr  # the process says where it runs
    run("seed_demo", "--members", "20", "--days", "4", "--seed", "3")
    run("eod", "--catch-up")
    assert run("eod", "--catch-up").stdout.strip() == "Nothing to run."  # every day is closed

    facts = json.loads(run("shell", "-c", FACTS).stdout.strip().splitlines()[-1])
    assert facts["vendor"] == "postgresql"
    assert facts["runs"] == {"done": 6}
    assert facts["failed_checks"] == 0
    # Every closing is exactly the balance after of the account's last entry of the day.
    assert facts["off"] == 0
    assert facts["vouchers"] > 0
    # The money's database guards are installed here as in production.
    assert facts["entry_triggers"], "no triggers on postings_entry in the embedded database"
