"""A loopback cluster whose head runs Ray's job server (the dashboard), bound to 127.0.0.1.

Like ``_loopback.LoopbackCluster`` (token authentication on, every process marked, stopped by
process id, never `ray stop`), with the dashboard started on a free port of 127.0.0.1: the job
server ``hpsearch submit`` talks to.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ._loopback import LoopbackCluster, Node, free_port


@dataclass
class JobServerCluster(LoopbackCluster):
    """Head (with the job server at ``jobs_url``) and workers on this machine."""

    jobs_url: str = ""

    def start_head(self, num_cpus: int = 1) -> Node:
        port, dashboard = free_port(), free_port()
        node = self._start("head", [
            "--head", f"--port={port}", f"--ray-client-server-port={free_port()}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}", f"--dashboard-agent-grpc-port={free_port()}",
        ], num_cpus)
        self.jobs_url = f"http://127.0.0.1:{dashboard}"
        self._wait_for_job_server()
        return node

    def _wait_for_job_server(self, timeout_s: float = 90) -> None:
        """The dashboard answers after `ray start` returns: wait until its version API does."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"{self.jobs_url}/api/version", timeout=2):
                    return
            except urllib.error.HTTPError:  # 401 without the token: it answers
                return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the job server at {self.jobs_url} did not answer in {timeout_s} s")
