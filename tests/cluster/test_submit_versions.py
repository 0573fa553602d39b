"""`hpsearch submit` runs the study with the cluster's own Python, once the versions agree.

Fast (default run): the shell snippet that finds the Python running Ray, checked against a real
process that has loaded Ray; and submit's refusals against a stand-in job server whose probe job
prints what a cluster's Python would. The real cluster, started from a venv that is not
activated, is `tests/cluster/test_service.py`'s cluster test (`.ci/run` runs it that way).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch._versions import PROBE_PREFIX, local_versions
from hpsearch.cli import main
from hpsearch.service import FIND_PYTHON

from ._fake_jobserver import TOKEN, fake_job_server
from .conftest import STUDY


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc")
def test_find_python_names_the_environment_that_runs_ray():
    # The job supervisor is a Python process that has loaded Ray; its child shell finds it.
    parent = ("import subprocess, sys, ray._raylet; sys.exit(subprocess.run("
              "['/bin/sh', '-c', sys.argv[1] + 'echo \"$py\"']).returncode)")
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}  # nothing activated
    done = subprocess.run([sys.executable, "-c", parent, FIND_PYTHON], capture_output=True,
                          text=True, timeout=120, env=env, check=True)
    found = done.stdout.strip()
    assert found.startswith("/"), done
    # The interpreter found is this environment's (its venv, not the base binary behind it).
    prefix = subprocess.run([found, "-c", "import sys; print(sys.prefix)"], capture_output=True,
                            text=True, timeout=60, check=True, env=env).stdout.strip()
    assert os.path.realpath(prefix) == os.path.realpath(sys.prefix)


@pytest.fixture
def submit(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    study = tmp_path / "svc.toml"
    study.write_text(STUDY.format(name="svc", n_trials=4, epochs=50))

    def run(server, cluster: dict) -> tuple[int, str, str]:
        server.probe_output = "Running entrypoint\n" + PROBE_PREFIX + json.dumps(cluster) + "\n"
        code = main(["submit", str(study), "--address", server.url,
                     "--storage", f"sqlite:///{tmp_path}/s.db", "--no-wait"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_the_job_runs_with_the_clusters_python(submit):
    cluster = {**local_versions(), "executable": "/srv/ray-env/bin/python3", "python": "3.11.7"}
    with fake_job_server() as server:
        code, _, err = submit(server, cluster)
        assert code == 0, err
        probe, job = server.submitted.values()
    assert "ray._raylet" not in probe["entrypoint"] and "_raylet" in probe["entrypoint"]
    assert job["entrypoint"].count("/srv/ray-env/bin/python3 -m hpsearch run svc.toml") == 1
    assert job["metadata"]["study"] == "svc"


@pytest.mark.parametrize("cluster, expected", [
    ({"hpsearch": None}, "has no hpsearch for the Python that runs Ray there "
                         "(Python /srv/ray-env/bin/python3)"),
    ({"optuna": "4.4.0"}, "optuna 4.4.0"),
    ({"hpsearch": "0.0.9"}, "hpsearch 0.0.9"),
])
def test_a_cluster_that_cannot_run_the_study_is_one_line_and_nothing_runs(submit, cluster,
                                                                           expected):
    remote = {**local_versions(), **cluster, "executable": "/srv/ray-env/bin/python3"}
    with fake_job_server() as server:
        code, out, err = submit(server, remote)
        assert len(server.submitted) == 1  # the probe only: the study was never submitted
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: ")
    assert expected in lines[0] and "the cluster at http://127.0.0.1:" in lines[0]
