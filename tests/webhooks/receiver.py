"""A real HTTP receiver for the webhook tests: ``http.server`` on
127.0.0.1 at a free port, in a thread of its own. Each request is kept with
its headers and body, and checked with the Standard Webhooks verifier
(``standardwebhooks.Webhook(secret).verify``) under every secret the test
gives it; the first ``fail_first`` requests are answered 500."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    # secret -> did the signature verify under it
    verified: dict[str, bool] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self, *, fail_first: int = 0, status: int = 200, secrets: list[str] | None = None):
        self.fail_first = fail_first
        self.status = status
        self.secrets = list(secrets or [])
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    n = len(receiver.received)
                    status = 500 if n < receiver.fail_first else receiver.status
                    verified = {}
                    for secret in receiver.secrets:
                        try:
                            Webhook(secret).verify(body, headers)
                            verified[secret] = True
                        except WebhookVerificationError:
                            verified[secret] = False
                    receiver.received.append(Received(time.monotonic(), self.path, headers, body, status, verified))
                answer = b'{"ok": true}' if status < 300 else b"receiver says no " + b"x" * 2000
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ledger"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        with self.lock:
            return [r.id for r in self.received]

    def statuses(self) -> list[int]:
        with self.lock:
            return [r.status for r in self.received]
