"""What the embedded Ray instance exposes (issue 15): loopback only, a private token file, no
processes left behind by a killed driver, and a fast clear error for an unreachable cluster.

The slow tests start Ray in a driver subprocess with its own HOME (so the token file it makes
is a fresh one) and its own Ray temp dir, and clean up by PID whatever they started.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hpsearch.execution._ray import MARK_ENV, _split_host_port

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}

# The driver: start the embedded instance, run one task, print its processes, wait for a line
# on stdin, shut down.
DRIVER = r"""
import json, os, sys
from hpsearch.execution._ray import _watchdogs, init_ray
started = init_ray(None, num_cpus=1)
import ray
import psutil  # Ray's bundled copy: importable once ray is

@ray.remote
def where():
    return os.getpid()

worker = ray.get(where.remote())
watchdogs = sorted(p.pid for p in _watchdogs)
pids = sorted(p.pid for p in psutil.Process().children(recursive=True)
              if p.pid not in watchdogs)
print("INFO " + json.dumps({"started": started, "pids": pids, "watchdogs": watchdogs,
                            "worker": worker, "node_ip": ray.util.get_node_ip_address()}),
      flush=True)
sys.stdin.readline()
ray.shutdown()
"""


def _psutil():
    import ray  # noqa: F401  (puts Ray's bundled psutil on sys.path)

    return importlib.import_module("psutil")


def _alive(proc) -> bool:
    psutil = _psutil()
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Driver:
    def __init__(self, tmp_path: Path):
        self.home = tmp_path / "home"
        self.home.mkdir()
        # Short: Ray's unix socket paths live under it (108-byte limit).
        self.ray_tmp = tempfile.mkdtemp(prefix="hpr-", dir="/tmp")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RAY_AUTH") and k not in
               {"RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", MARK_ENV}}
        env.update(HOME=str(self.home), RAY_TMPDIR=self.ray_tmp)
        self.proc = subprocess.Popen([sys.executable, "-c", DRIVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        self.info = self._read_info(timeout=180)
        psutil = _psutil()
        # Process objects pin (pid, create time): a reused PID is never taken for ours.
        self.procs = []
        for pid in self.info["pids"] + self.info["watchdogs"]:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.procs.append(psutil.Process(pid))

    def _read_info(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                if line.startswith("INFO "):
                    return json.loads(line[5:])
            elif self.proc.poll() is not None:
                break
        self.close()
        raise AssertionError(f"the driver did not start Ray (exit code {self.proc.poll()})")

    def left(self) -> list:
        return [p for p in self.procs if _alive(p)]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for p in getattr(self, "procs", []):
            if _alive(p):
                p.kill()
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


@pytest.fixture
def driver(tmp_path):
    d = Driver(tmp_path)
    try:
        yield d
    finally:
        d.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_embedded_instance_listens_on_loopback_only(driver):
    psutil = _psutil()
    assert driver.info["started"] is True
    assert driver.info["node_ip"] == "127.0.0.1"
    pids = {driver.proc.pid, *driver.info["pids"]}
    assert driver.info["worker"] in pids
    listening = [(c.pid, psutil.Process(c.pid).name(), c.laddr.ip, c.laddr.port)
                 for c in psutil.net_connections(kind="inet")
                 if c.pid in pids and c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 4, listening  # driver, GCS, raylet, agents, worker at least
    exposed = [s for s in listening if s[2] not in LOOPBACK]
    assert not exposed, f"listening beyond loopback: {exposed}"

    token = driver.home / ".ray" / "auth_token"
    assert token.is_file()
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700

    # A normal shutdown leaves nothing either (the watchdog leaves about 5 s after Ray).
    driver.proc.stdin.write("\n")
    driver.proc.stdin.flush()
    assert driver.proc.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while driver.left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not driver.left(), [(p.pid, p.name()) for p in driver.left()]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkilled_driver_leaves_no_ray_process(driver):
    assert driver.info["watchdogs"], "no watchdog was started"
    assert len(driver.procs) >= 5  # GCS, raylet, two agents, a worker, the watchdog
    t0 = time.monotonic()
    os.kill(driver.proc.pid, signal.SIGKILL)
    driver.proc.wait()
    while driver.left() and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    left = [(p.pid, p.name()) for p in driver.left()]
    assert not left, f"still running {time.monotonic() - t0:.1f} s after SIGKILL: {left}"


def test_unreachable_cluster_fails_fast_without_starting_ray():
    # In a fresh process: this one may already hold a Ray instance (init_ray then reuses it).
    script = (
        "import sys, time\n"
        "from hpsearch.execution._ray import RayStartError, init_ray\n"
        "t0 = time.monotonic()\n"
        "try:\n"
        "    init_ray('127.0.0.1:1')\n"
        "except RayStartError as exc:\n"
        "    ray = sys.modules.get('ray')\n"
        "    print(round(time.monotonic() - t0, 2), ray is None or not ray.is_initialized())\n"
        "    print(exc)\n"
        "    sys.exit(0)\n"
        "sys.exit('init_ray did not raise')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    timing, message = done.stdout.split("\n", 1)
    seconds, not_started = timing.split()
    assert float(seconds) < 5 and not_started == "True"
    assert "127.0.0.1:1" in message and "ray start --head" in message


@pytest.mark.parametrize(("address", "expected"), [
    ("10.0.0.5:6379", ("10.0.0.5", 6379)),
    ("head:6379", ("head", 6379)),
    ("ray://head:10001", ("head", 10001)),
    ("[::1]:6379", ("::1", 6379)),
    ("auto", None),
    ("head", None),
    (":6379", None),
])
def test_cluster_addresses_probed(address, expected):
    assert _split_host_port(address) == expected
