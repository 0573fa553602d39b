"""The client of Ray's job server: its address, Ray's token, a time limit, one-line errors.

* **Token authentication.** Each request carries ``Authorization: Bearer <token>``, the token
  found as Ray finds it (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``), also
  when ``RAY_AUTH_MODE`` is not set on this machine; a missing or wrong token is one line.
* **Bounded.** One TCP connect first (``hpsearch._net``), then every request given up after
  ``REQUEST_TIMEOUT_S``.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpsearch._net import is_loopback, reach
from hpsearch.service._errors import ServiceError
from hpsearch.storage import redact

__all__ = ["REQUEST_TIMEOUT_S", "JobServerClient", "connect", "token_in_clear"]

#: Seconds one request to the job server may take (submitting, a whole log, a stop).
REQUEST_TIMEOUT_S = 60.0


def _normalize(address: str | None) -> str:
    """``http(s)://HOST:PORT`` from what a user typed (a bare ``HOST:PORT`` means http)."""
    if not address:
        address = os.environ.get("RAY_API_SERVER_ADDRESS") or ""
    if not address:
        raise ServiceError("no job server given: pass --address http://HEAD:8265 (the head's "
                           "dashboard port; reach it through `ssh -L 8265:127.0.0.1:8265 HEAD`) "
                           "or set RAY_API_SERVER_ADDRESS")
    if "://" not in address:
        address = f"http://{address}"
    parsed = urllib.parse.urlsplit(address)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ServiceError(f"--address {address!r}: expected the job server's URL, "
                           "http://HOST:PORT (port 8265 by default), not Ray's GCS address")
    return address.rstrip("/")


def token_in_clear(address: str | None) -> str | None:
    """The host, when requests to ``address`` would carry the token unencrypted off this machine.

    Plain HTTP to a host other than loopback: the token (which lets anyone run code on the
    cluster) crosses the network readable. An SSH tunnel avoids that.
    """
    try:
        parsed = urllib.parse.urlsplit(_normalize(address))
    except ServiceError:
        return None
    host = parsed.hostname or ""
    if parsed.scheme == "http" and not is_loopback(host):
        return host
    return None


def _token() -> str | None:
    """The cluster's token, found where Ray looks: env, the file it names, ``~/.ray/auth_token``."""
    if token := os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return token
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    try:
        return Path(path).expanduser().read_text().strip() or None
    except OSError:
        if os.environ.get("RAY_AUTH_TOKEN_PATH"):
            raise ServiceError(f"RAY_AUTH_TOKEN_PATH={path}: cannot read the token file") from None
        return None


def _reach_job_server(host: str, port: int) -> None:
    """One TCP connect first: Ray's client would retry an address where nothing listens."""
    try:
        reach(host, port)
    except OSError as exc:
        raise ServiceError(f"cannot reach the job server at {host}:{port} ({exc.strerror or exc}); "
                           "check that the head runs Ray's dashboard (`ray start --head "
                           "--include-dashboard=true --dashboard-host=127.0.0.1`) and, from "
                           "another machine, that an SSH tunnel is open "
                           "(`ssh -L 8265:127.0.0.1:8265 HEAD`)") from None


class JobServerClient:
    """``JobSubmissionClient`` with the token header, a time limit, and one-line errors.

    Ray's client sets no time limit on its requests and has no public way to set one, so each
    call runs in a daemon thread that is given up after ``REQUEST_TIMEOUT_S`` (a server that
    takes the connection and never answers would otherwise hang the command).
    """

    def __init__(self, address: str | None) -> None:
        self.address = _normalize(address)
        parsed = urllib.parse.urlsplit(self.address)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        _reach_job_server(parsed.hostname or "", port)
        token = _token()
        self._has_token = bool(token)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.explained():
            from ray.job_submission import JobSubmissionClient

            for name in ("ray.dashboard.modules.dashboard_sdk",
                         "ray._private.runtime_env.packaging"):
                logging.getLogger(name).setLevel(logging.WARNING)  # "Uploading package ..."

            self.ray = _bounded(lambda: JobSubmissionClient(self.address, headers=headers))

    def explained(self) -> _ExplainedErrors:
        """A context that turns what the job client raises into one ``ServiceError`` line."""
        return _ExplainedErrors(self.address, self._has_token)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``JobSubmissionClient.<method>(*args, **kwargs)``, bounded and explained."""
        with self.explained():
            return _bounded(lambda: getattr(self.ray, method)(*args, **kwargs))


def _bounded(call: Callable[[], Any]) -> Any:
    """``call()``, or ``TimeoutError`` once it has taken ``REQUEST_TIMEOUT_S``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(REQUEST_TIMEOUT_S)
    if thread.is_alive():
        raise TimeoutError(f"no answer in {REQUEST_TIMEOUT_S:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class _ExplainedErrors:
    """Turn what the job client raises into one ``ServiceError`` line."""

    def __init__(self, address: str, has_token: bool) -> None:
        self.address, self.has_token = address, has_token

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, ServiceError):
            return False
        import requests
        from ray.exceptions import AuthenticationError

        where = f"the job server at {self.address}"
        if isinstance(exc, AuthenticationError):
            if "Authentication required" in str(exc) or not self.has_token:
                raise ServiceError(
                    f"{where} requires Ray's token and none was found here: set RAY_AUTH_TOKEN, "
                    "or RAY_AUTH_TOKEN_PATH, or copy the cluster's token to ~/.ray/auth_token"
                ) from None
            raise ServiceError(f"{where} refused the token (wrong token): use the cluster's token "
                               "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
                               ) from None
        if isinstance(exc, (TimeoutError, requests.exceptions.Timeout)):
            raise ServiceError(f"{where} took the connection but did not answer "
                               f"({_first_line(exc)}); is it Ray's job server?") from None
        if isinstance(exc, (ConnectionError, requests.exceptions.ConnectionError)):
            raise ServiceError(f"cannot reach {where} ({_first_line(exc)})") from None
        if isinstance(exc, RuntimeError) and "404" in str(exc) and "Version check" in str(exc):
            raise ServiceError(f"{where} is no Ray job server (no /api/version); expected the "
                               "head's dashboard port (8265 by default)") from None
        if isinstance(exc, (RuntimeError, ValueError)):
            raise ServiceError(f"{where}: {_first_line(exc)}") from None
        return False


def _first_line(exc: BaseException) -> str:
    lines = [line for line in redact(str(exc)).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__


def connect(address: str | None) -> JobServerClient:
    """A client of the job server at ``address`` (``http://HEAD:8265``; None: from env).

    Raises:
        ServiceError: nothing listens there, it is no job server, or it refuses the token.
    """
    client = JobServerClient(address)
    client.call("list_jobs")  # the version check does not need the token: this does
    return client
