"""The API behind gunicorn as the project starts it (gunicorn.conf.py): a
request with a very long API key still gets the API's own JSON error, not
gunicorn's bare 431 for a header over its default 8,190 bytes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connection

from config import embedded_db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gunicorn_url(transactional_db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": embedded_db.url(connection.settings_dict),
        "SECRET_KEY": "test-only-secret-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    # From the project directory with no -c: gunicorn reads ./gunicorn.conf.py
    # itself, as the README's deploy command does.
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/schema/", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def _get(url: str, key: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Api-Key {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.mark.parametrize("length", [10_000, 30_000])
def test_a_very_long_key_gets_the_api_json_401_through_gunicorn(gunicorn_url, length):
    status, headers, body = _get(f"{gunicorn_url}/api/v1/accounts/123", "lk_" + "a" * (length - 3))
    assert status == 401, (status, body[:300])
    assert headers["Content-Type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error["code"] == "unauthenticated"
    assert set(error) == {"code", "message", "fields"}
