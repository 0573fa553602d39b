"""`hpsearch run --address` checks the cluster before it writes anything (issues 22 and 26).

A bad address (malformed, unresolvable, unreachable, a job server's) is one line naming the
study file and key it came from, exit 2, and the runs directory exactly as it was. The version
check on a joined cluster is tested as the functions it is made of, on the session's local Ray
(which is no joined cluster), and the refusal path with Ray's join stood in for.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch._versions import PACKAGES, VersionMismatch, local_versions
from hpsearch.cli import main
from hpsearch.execution import _ray as _ray


def _free_port() -> int:
    with socket.socket() as sock:  # bound and closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _listening():
    """A port on 127.0.0.1 that accepts TCP connections (and is no Ray cluster)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _study(tmp_path: Path, address: str | None = None) -> Path:
    path = tmp_path / "x.toml"
    path.write_text("""[study]
name = "x"
n_trials = 2
[space]
num_epochs = 2
learning_rate = { low = 1e-2, high = 1e-1, log = true }
[dataset]
name = "digits"
n_train = 200
""" + (f'[run]\naddress = "{address}"\n' if address else ""))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(folder.rglob("*"))}


def _runs_with_a_study(tmp_path: Path) -> Path:
    """A runs directory holding another study's files: what must stay as it is."""
    runs = tmp_path / "runs"
    (runs / "other").mkdir(parents=True)
    (runs / "other" / "run.log").write_text("an earlier run\n")
    return runs


BAD = [
    ("nohost:99999", "port 99999 is out of range"),
    ("nohost.invalid:6379", "cannot resolve the host of the Ray cluster at 'nohost.invalid:6379'"),
    (f"127.0.0.1:{_free_port()}", "cannot reach the Ray cluster at '127.0.0.1:"),
    ("http://127.0.0.1:8265", "is a job server's (the dashboard's)"),
    ("head", "expected 'auto', HOST:PORT or ray://HOST:PORT"),
    ("tcp://head:6379", "expected 'auto', HOST:PORT or ray://HOST:PORT"),
]


def test_a_bad_address_in_the_study_file_writes_nothing_as_a_process(tmp_path):
    # The case, through the installed command in a process of its own.
    study = _study(tmp_path, "nohost:99999")
    runs = _runs_with_a_study(tmp_path)
    before = _snapshot(runs)
    done = subprocess.run([sys.executable, "-m", "hpsearch", "run", str(study), "--runs-dir",
                           str(runs), "--no-progress"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"error: {study}: [run] address: ")
    assert "'nohost:99999'" in lines[0] and "out of range" in lines[0]
    assert _snapshot(runs) == before  # no study.db, no run.log, no runs/x/


@pytest.mark.parametrize("address, expected", BAD)
def test_a_bad_address_in_the_study_file_is_one_line_naming_file_and_key(tmp_path, capsys,
                                                                         address, expected):
    study = _study(tmp_path, address)
    runs = _runs_with_a_study(tmp_path)
    before = _snapshot(runs)
    assert main(["run", str(study), "--runs-dir", str(runs), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {study}: [run] address: ") and expected in err, err
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(runs) == before


@pytest.mark.parametrize("address, expected", BAD[:3])
def test_a_bad_address_on_the_command_line_writes_nothing(tmp_path, capsys, address, expected):
    study = _study(tmp_path, "auto")  # the command line's wins
    runs = _runs_with_a_study(tmp_path)
    before = _snapshot(runs)
    assert main(["run", str(study), "--runs-dir", str(runs), "--address", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and "[run] address" not in err
    assert _snapshot(runs) == before


def test_the_address_is_checked_before_ray_is_imported():
    # In a fresh process: nothing of Ray is loaded, let alone started, by a refused address.
    script = ("import sys\n"
              "from hpsearch.execution._ray import RayStartError, join_cluster\n"
              "try:\n"
              "    join_cluster('nohost.invalid:6379')\n"
              "except RayStartError as exc:\n"
              "    print('ray' in sys.modules, exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.startswith("False cannot resolve the host")


# -- the version check on a joined cluster --------------------------------------------------------


def test_the_version_task_reads_every_node_of_the_local_instance(ray_local):
    found = _ray.cluster_versions()
    assert len(found) == len([n for n in ray_local.nodes() if n["Alive"]]) >= 1
    ip, versions = found[0]
    assert ip == ray_local.util.get_node_ip_address()
    assert {n: versions[n] for n in PACKAGES} == local_versions()
    assert versions["executable"] == sys.executable  # the workers' interpreter
    _ray.check_cluster_versions("127.0.0.1:6379")  # agrees with itself: no refusal


def test_a_node_that_dies_during_the_version_check_is_left_out(ray_local, monkeypatch):
    # A node killed a moment ago can still be listed alive; its pinned task cannot be placed.
    real = ray_local.nodes
    ghost = {**real()[0], "NodeID": "ab" * 28, "NodeManagerAddress": "192.0.2.9", "Alive": True}
    calls = []

    def nodes():
        calls.append(1)
        return real() + ([ghost] if len(calls) == 1 else [])  # then Ray learns it died

    monkeypatch.setattr(ray_local, "nodes", nodes)
    found = _ray.cluster_versions(timeout_s=60)
    assert [ip for ip, _ in found] == [ray_local.util.get_node_ip_address()]


@pytest.mark.parametrize("changed, expected", [
    ({"hpsearch": "0.0.1"}, "hpsearch exactly"),
    ({"ray": "2.0.0"}, "ray exactly"),
    ({"optuna": "1.0.0"}, "optuna to the minor release"),
    ({"hpsearch": None}, "has no hpsearch for the Python that runs Ray there"),
])
def test_a_node_running_other_versions_is_refused_naming_it(changed, expected):
    good = {**local_versions(), "executable": "/usr/bin/python3"}
    bad = {**good, **changed, "executable": "/opt/other/bin/python"}
    with pytest.raises(VersionMismatch) as err:
        _ray.check_cluster_versions("10.0.0.1:6379", [("10.0.0.1", good), ("10.0.0.2", bad)])
    line = str(err.value)
    assert "\n" not in line and expected in line
    assert "node 10.0.0.2 of the cluster at 10.0.0.1:6379" in line
    assert "/opt/other/bin/python" in line


def _fake_cluster(monkeypatch, remote: dict) -> list[str]:
    """``ray.init`` joins nothing and the nodes report ``remote``; returns the calls to Ray."""
    import ray

    calls: list[str] = []
    monkeypatch.setattr(_ray, "_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append("init"))
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    monkeypatch.setattr(_ray, "cluster_versions", lambda: [("10.0.0.2", remote)])
    return calls


def test_a_refused_join_leaves_ray_shut_down(monkeypatch):
    calls = _fake_cluster(monkeypatch, {**local_versions(), "ray": "2.0.0"})
    with _listening() as address, pytest.raises(VersionMismatch, match=f"cluster at {address}"):
        _ray.join_cluster(address)
    assert calls == ["init", "shutdown"]


def test_a_version_mismatch_in_a_run_writes_nothing_and_names_file_and_key(tmp_path, capsys,
                                                                           monkeypatch):
    calls = _fake_cluster(monkeypatch, {**local_versions(), "hpsearch": "0.0.1"})
    runs = _runs_with_a_study(tmp_path)
    before = _snapshot(runs)
    with _listening() as address:
        study = _study(tmp_path, address)
        assert main(["run", str(study), "--runs-dir", str(runs), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {study}: [run] address: node 10.0.0.2 of the cluster at "
                          f"{address} runs hpsearch 0.0.1")
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(runs) == before
    assert calls == ["init", "shutdown"]


def test_a_storage_refused_after_joining_leaves_ray_shut_down(tmp_path, capsys, monkeypatch):
    calls = _fake_cluster(monkeypatch, {**local_versions(), "executable": sys.executable})
    runs = _runs_with_a_study(tmp_path)
    before = _snapshot(runs)
    url = f"postgresql://someone@127.0.0.1:{_free_port()}/db"  # nothing listens there
    with _listening() as address:
        study = _study(tmp_path, address)
        assert main(["run", str(study), "--runs-dir", str(runs), "--no-progress",
                     "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: storage postgresql://someone@127.0.0.1:") and "failed" in err
    assert _snapshot(runs) == before
    assert calls == ["init", "shutdown"]  # joined first, then refused: disconnected
