"""What a driver and a cluster must agree on (hpsearch._versions), without a cluster."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpsearch import _versions as V

LOCAL = {"hpsearch": "0.1.0", "optuna": "5.1.0", "ray": "2.60.0"}


def test_the_probe_code_reports_this_interpreter_and_its_versions():
    # PROBE_CODE is what the cluster's Python runs: standard library only, one line of JSON.
    done = subprocess.run([sys.executable, "-c", V.PROBE_CODE], capture_output=True, text=True,
                          timeout=60, check=True)
    found = V.parse_probe("Running entrypoint ...\n" + done.stdout + "a trailing line\n")
    assert found is not None
    assert found["executable"] == sys.executable
    assert {n: found[n] for n in V.PACKAGES} == V.local_versions()
    assert found["python"] == ".".join(map(str, sys.version_info[:3]))


def test_parse_probe_needs_its_line():
    assert V.parse_probe("no such line\n") is None
    assert V.parse_probe(V.PROBE_PREFIX + "{not json\n") is None


@pytest.mark.parametrize("remote", [
    dict(LOCAL),
    {**LOCAL, "optuna": "5.1.3"},            # Optuna to the minor release
    {**LOCAL, "hpsearch": "0.1.0+local"},    # a local version label is the same release
])
def test_versions_that_agree_pass(remote):
    V.check_versions(LOCAL, remote, "the cluster at X")


@pytest.mark.parametrize("changed, expected", [
    ({"optuna": "5.0.0"}, "optuna to the minor release"),
    ({"ray": "2.59.0"}, "ray exactly"),
    ({"hpsearch": "0.1.1"}, "hpsearch exactly"),
])
def test_a_mismatch_that_matters_is_one_line_naming_both_sides(changed, expected):
    remote = {**LOCAL, **changed, "executable": "/opt/venv/bin/python3"}
    with pytest.raises(V.VersionMismatch) as info:
        V.check_versions(LOCAL, remote, "the cluster at http://head:8265")
    line = str(info.value)
    assert "\n" not in line and expected in line
    name, theirs = next(iter(changed.items()))
    assert f"{name} {theirs}" in line and f"{name} {LOCAL[name]}" in line  # both sides named
    assert "/opt/venv/bin/python3" in line and "http://head:8265" in line


def test_a_cluster_without_hpsearch_is_told_what_to_install():
    remote = {"hpsearch": None, "optuna": "5.1.0", "ray": "2.60.0",
              "executable": "/usr/bin/python3"}
    with pytest.raises(V.VersionMismatch, match=r"has no hpsearch for the Python that runs Ray "
                       r"there \(Python /usr/bin/python3\): install hpsearch 0\.1\.0"):
        V.check_versions(LOCAL, remote, "the cluster at X")
