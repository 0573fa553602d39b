"""A stand-in for Ray's job server that checks the token as Ray's does, and counts requests.

It answers like the dashboard with token authentication on: 401 without an ``Authorization``
header, 403 with a wrong one; with the right token, ``/api/version`` and an empty job list. The
fast tests use it to show what reaches the job server (nothing, for input refused beforehand).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "right-token"


class FakeJobServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self.url = ""


@contextmanager
def fake_job_server() -> Iterator[FakeJobServer]:
    state = FakeJobServer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            auth = self.headers.get("Authorization")
            state.requests.append((self.command, self.path, auth))
            if auth is None:
                self._send(401, "Unauthorized: Missing authentication token")
            elif auth != f"Bearer {TOKEN}":
                self._send(403, "Forbidden: Invalid authentication token")
            elif self.path.startswith("/api/version"):
                self._send(200, json.dumps({"version": "4", "ray_version": "2.60.0",
                                            "ray_commit": "x", "session_name": "s"}))
            elif self.path.startswith("/api/jobs"):
                self._send(200, "[]")
            else:
                self._send(404, "not here")

        do_GET = do_POST = do_PUT = _answer

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
