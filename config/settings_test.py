"""Test settings: the machine's PostgreSQL when one answers, else the embedded one.

LEDGER_TEST_PG chooses the database server of the tests:
  auto      (default) DATABASE_URL if set; else the PostgreSQL on 127.0.0.1:5432
            (user postgres) if it answers; else the embedded server
            (config/embedded_db.py, data in var/postgres)
  local     DATABASE_URL, or 127.0.0.1:5432, answering or not
  embedded  the embedded server, whatever DATABASE_URL says
pytest-django makes its test_<name> database on whichever it is.
"""

import os

from .embedded_db import LOCAL_DATABASE_URL, test_server_choice

TEST_PG = test_server_choice()
if TEST_PG == "embedded":
    # settings.py starts the embedded server when DATABASE_URL is unset.
    os.environ.pop("DATABASE_URL", None)
else:
    os.environ.setdefault("DATABASE_URL", LOCAL_DATABASE_URL)
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TEST_CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")

# A second database for tests/postings/test_rule_equivalence.py: the same
# sequences run on each, one call on and off.
DATABASES["slow"] = {**DATABASES["default"], "NAME": DATABASES["default"]["NAME"] + "_slow", "TEST": {}}  # noqa: F405

# Webhook receivers in the tests are http servers on 127.0.0.1.
WEBHOOKS_REQUIRE_HTTPS = False
WEBHOOKS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
