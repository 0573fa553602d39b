"""A multi-node Ray cluster on this machine, started with `ray start` and stopped by process id.

Every process of a cluster (each `ray start --block`, the GCS, raylets, agents, the workers the
raylets spawn, and the drivers the tests start) carries a marker in its environment:
``HPSEARCH_TEST_RAY=<cluster id>/<node name>``. Killing a node means SIGKILL to every process
with that node's marker, so nothing belonging to other Ray users on the machine is touched (never
`ray stop`: it stops every Ray process by name), and a process that was reparented or escaped its
process group is still found.

Every process also gets ``HPSEARCH_TEST_HOLD`` (``hold``, a ``tests/_trial_hold.TrialHold`` in
the cluster's folder): a test holds trials running on any node instead of guessing how long they
take on this machine. The nodes share this machine's file system, so one folder serves them all.

Token authentication is on: each cluster gets a fresh token, given to every process through
``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN``. A driver joining a cluster by ``HOST:PORT`` needs
both (Ray 2.60 enables token mode on its own only for ``ray.init()`` that starts a cluster, or
``address="auto"`` when a token is found).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _trial_hold import TrialHold

MARKER = "HPSEARCH_TEST_RAY"
_ADDRESS_LINE = re.compile(r"ray start --address='(?P<address>[^']+)'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def marked_pids(prefix: str) -> list[int]:
    """Live processes marked ``prefix`` (a cluster/node) or ``prefix/...`` (a cluster id)."""
    own = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != own:
            value = _environ(int(entry.name)).get(MARKER, "")
            if (value == prefix or value.startswith(prefix + "/")) and _alive(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kill_marked(prefix: str, timeout_s: float = 30.0) -> list[int]:
    """SIGKILL every process ``marked_pids(prefix)`` finds until none is left; returns survivors."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        pids = marked_pids(prefix)
        if not pids:
            return []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    return marked_pids(prefix)


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    log: Path
    node_id: str = ""


@dataclass
class LoopbackCluster:
    """Head and worker nodes on this machine, each a `ray start --block` subprocess."""

    root: Path  # short: Ray's socket paths must fit in 107 characters
    cluster_id: str = field(default_factory=lambda: "c" + secrets.token_hex(4))
    token: str = field(default_factory=lambda: secrets.token_hex(32))
    address: str = ""
    nodes: dict[str, Node] = field(default_factory=dict)
    hold: TrialHold = field(init=False)

    def __post_init__(self) -> None:
        self.hold = TrialHold(self.root / "hold")

    def env(self, who: str) -> dict[str, str]:
        """Environment of a process of this cluster: token auth, one BLAS thread, the marker,
        the trial hold."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RAY_", "HPSEARCH_TEST_"))}
        env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                    MARKER: f"{self.cluster_id}/{who}", "OMP_NUM_THREADS": "1",
                    "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1", **self.hold.env})
        return env

    def start_head(self, num_cpus: int = 1) -> Node:
        port = free_port()
        return self._start("head", ["--head", f"--port={port}",
                                    f"--ray-client-server-port={free_port()}",
                                    "--include-dashboard=false"], num_cpus)

    def add_worker(self, name: str, num_cpus: int = 1) -> Node:
        assert self.address, "start the head first"
        return self._start(name, [f"--address={self.address}"], num_cpus)

    def _start(self, name: str, args: list[str], num_cpus: int) -> Node:
        log = self.root / f"{name}.log"
        ray = Path(sys.executable).with_name("ray")
        cmd = [str(ray), "start", *args, f"--num-cpus={num_cpus}", "--block",
               "--disable-usage-stats", f"--temp-dir={self.root / 'ray'}",
               f"--dashboard-agent-listen-port={free_port()}",
               f"--metrics-export-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}"]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    env=self.env(name), start_new_session=True)
        node = Node(name, proc, log)
        self.nodes[name] = node
        end = time.monotonic() + 90
        while time.monotonic() < end:
            text = log.read_text(errors="replace")
            if "Ray runtime started" in text:
                if name == "head":
                    self.address = _ADDRESS_LINE.search(text)["address"]
                return node
            if proc.poll() is not None:
                raise RuntimeError(f"ray start of {name} exited {proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"ray start of {name} did not come up in 90 s:\n"
                           f"{log.read_text(errors='replace')[-3000:]}")

    def kill_node(self, name: str) -> None:
        """The node dies at once: SIGKILL to every one of its processes (raylet, workers, ...)."""
        node = self.nodes.pop(name)
        left = kill_marked(f"{self.cluster_id}/{name}")
        node.proc.wait(timeout=30)
        assert not left, f"node {name}: processes survived SIGKILL: {left}"

    def shutdown(self) -> list[int]:
        """Kill every node (workers first), then anything left with this cluster's marker."""
        for name in [n for n in self.nodes if n != "head"] + ["head"]:
            if name in self.nodes:
                self.kill_node(name)
        return kill_marked(self.cluster_id)


def hpsearch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch", *args]
