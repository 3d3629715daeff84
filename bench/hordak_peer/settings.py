"""Minimal Django settings for the django-hordak peer of bench/throughput.py.

Only bench/peer_hordak.py uses them, inside bench/.venv-hordak (its own venv:
hordak is no dependency of the application). The database comes from
HORDAK_DATABASE_URL; the currency is CNY, as in our ledger's benchmark.
"""

import os
from urllib.parse import urlparse

_url = urlparse(os.environ.get("HORDAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hordak_tp"))

SECRET_KEY = "bench-only-not-secret"
DEBUG = False  # no query log
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "mptt",
    "hordak",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "postgres",
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
    }
}

# Two decimal places, room for large amounts, one currency.
HORDAK_DECIMAL_PLACES = 2
HORDAK_MAX_DIGITS = 20
HORDAK_DEFAULT_CURRENCY = "CNY"
HORDAK_INTERNAL_CURRENCY = "CNY"
HORDAK_CURRENCIES = ["CNY"]
DEFAULT_CURRENCY = "CNY"
CURRENCIES = ["CNY"]
