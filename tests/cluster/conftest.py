"""Fixtures for cluster tests: a loopback Ray cluster per module, drivers as subprocesses."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from _trial_hold import TrialHold

from hpsearch.storage import default_storage

from ._loopback import LoopbackCluster, cmdline, hpsearch_cmd, kill_marked, marked_pids

# A trial takes about a second on one core, so that a study of a dozen trials ends in seconds. A
# test that needs a trial running when it acts holds it (the ``hold`` fixture) instead of
# counting on its length.
STUDY = """# cluster test study {name}
[study]
name = "{name}"
seed = 5
n_trials = {n_trials}

[dataset]
name = "digits"
n_train = 1000

[space]
num_epochs = {epochs}
learning_rate = {{ low = 1e-3, high = 1e-1, log = true }}
hidden_size = {{ low = 64, high = 128 }}

[pruner]
name = "none"
"""


def node_id(cluster: LoopbackCluster, name: str) -> str:
    """The Ray node id of node ``name`` (from its raylet's command line)."""
    for pid in marked_pids(f"{cluster.cluster_id}/{name}"):
        if match := re.search(r"--node[-_]id=([0-9a-f]{40,})", cmdline(pid)):
            return match[1]
    raise AssertionError(f"no raylet found for node {name}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    """Head (1 CPU) and worker ``w1`` (1 CPU); tests that add nodes remove them again."""
    c = LoopbackCluster(tmp_path_factory.mktemp("rc"))
    try:
        c.start_head(num_cpus=1)
        c.add_worker("w1", num_cpus=1)
        yield c
    finally:
        left = c.shutdown()
    assert not left, f"processes of the test cluster left behind: {left}"


@pytest.fixture
def hold(cluster: LoopbackCluster) -> Iterator[TrialHold]:
    """Hold trials on the module's cluster (``tests/_trial_hold.py``; every node sees the folder).

    Nothing is held at the start; everything is released at the end, whatever happened.
    """
    cluster.hold.reset()
    yield cluster.hold
    cluster.hold.reset()


class Driver:
    """``hpsearch run STUDY --address <cluster>`` as a subprocess that a test can kill."""

    _count = 0

    def __init__(self, cluster: LoopbackCluster, tmp_path: Path, name: str, n_trials: int,
                 epochs: int = 600, extra: tuple[str, ...] = ()) -> None:
        self.cluster, self.name = cluster, name
        self.study_file = tmp_path / f"{name}.toml"
        if not self.study_file.exists():
            self.study_file.write_text(STUDY.format(name=name, n_trials=n_trials, epochs=epochs))
        self.runs = tmp_path / "runs"
        self.storage = default_storage(self.runs, name)
        self.args = ["run", str(self.study_file), "--address", cluster.address,
                     "--runs-dir", str(self.runs), "--no-evaluate", "--no-report",
                     "--no-progress", *extra]
        self.proc: subprocess.Popen | None = None
        self.marker = ""

    def start(self) -> Driver:
        Driver._count += 1
        who = f"drivers/{Driver._count}"
        self.marker = f"{self.cluster.cluster_id}/{who}"
        self.log = self.runs.parent / f"driver-{Driver._count}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(hpsearch_cmd(*self.args), stdout=out,
                                         stderr=subprocess.STDOUT, env=self.cluster.env(who),
                                         start_new_session=True)
        return self

    def wait(self, timeout_s: float = 150) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"driver did not finish in {timeout_s} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def sigkill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def trials(self) -> list[Any]:
        try:
            return optuna.load_study(study_name=self.name, storage=self.storage).get_trials()
        except (KeyError, Exception):  # the study is not created yet
            return []

    def wait_until(self, condition: Callable[[list[Any]], bool], what: str,
                   timeout_s: float = 120) -> list[Any]:
        """Poll the storage until ``condition(trials)``; fail if the driver exits first."""
        assert self.proc is not None
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            trials = self.trials()
            if condition(trials):
                return trials
            if self.proc.poll() is not None:
                pytest.fail(f"the driver exited ({self.proc.returncode}) before {what}:\n"
                            f"{self.output()[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}")

    def stop(self) -> list[int]:
        """Kill the driver if it still runs (a failed test); returns processes that survived."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        return kill_marked(self.marker) if self.marker else []


@pytest.fixture
def drivers(cluster: LoopbackCluster, tmp_path: Path) -> Iterator[Callable[..., Driver]]:
    """Make drivers; after the test, none of their processes may be left."""
    made: list[Driver] = []

    def make(name: str, n_trials: int, **kwargs: Any) -> Driver:
        made.append(Driver(cluster, tmp_path, name, n_trials, **kwargs))
        return made[-1]

    yield make
    left = [pid for d in made for pid in d.stop()]
    assert not left, f"driver processes left behind: {left}"
