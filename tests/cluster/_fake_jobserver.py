"""A stand-in for Ray's job server that checks the token as Ray's does, and counts requests.

It answers like the dashboard with token authentication on: 401 without an ``Authorization``
header, 403 with a wrong one; with the right token, ``/api/version`` and an empty job list. The
fast tests use it to show what reaches the job server (nothing, for input refused beforehand).
With ``probe_output`` set it also takes submissions: each job ends SUCCEEDED at once with that
text as its log (what ``hpsearch.service``'s probe job prints on a cluster), and is recorded in
``submitted``.
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
        self.probe_output: str | None = None
        self.submitted: dict[str, dict[str, Any]] = {}  # submission id -> request body


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
            elif self.path.startswith("/api/jobs") and state.probe_output is not None:
                self._jobs()
            elif self.path.startswith("/api/packages/") and state.probe_output is not None:
                if self.command == "PUT":  # a job's working_dir, uploaded
                    self.rfile.read(int(self.headers["Content-Length"]))
                    self._send(200, "{}")
                else:
                    self._send(404, "no such package")
            elif self.path.startswith("/api/jobs"):
                self._send(200, "[]")
            else:
                self._send(404, "not here")

        def _jobs(self) -> None:
            parts = self.path.rstrip("/").split("/")[3:]  # /api/jobs/<id>[/logs]
            if self.command == "POST" and not parts:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                state.submitted[body["submission_id"]] = body
                self._send(200, json.dumps({"job_id": body["submission_id"],
                                            "submission_id": body["submission_id"]}))
            elif not parts:
                self._send(200, "[]")
            elif parts[0] not in state.submitted:
                self._send(404, f"no job {parts[0]}")
            elif self.command == "DELETE":
                self._send(200, json.dumps({"deleted": True}))
            elif parts[1:] == ["logs"]:
                self._send(200, json.dumps({"logs": state.probe_output}))
            else:
                body = state.submitted[parts[0]]
                self._send(200, json.dumps({"type": "SUBMISSION", "job_id": parts[0],
                                            "submission_id": parts[0], "status": "SUCCEEDED",
                                            "entrypoint": body["entrypoint"]}))

        do_GET = do_POST = do_PUT = do_DELETE = _answer

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
