"""Test settings: the real PostgreSQL and Redis of the machine, unless told otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ledger")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TEST_CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")

# A second database for tests/postings/test_rule_equivalence.py: the same
# sequences run on each, one call on and off.
DATABASES["slow"] = {**DATABASES["default"], "NAME": DATABASES["default"]["NAME"] + "_slow", "TEST": {}}  # noqa: F405
