"""docker/compose.yaml as Compose itself reads it, where a Compose binary is installed.

`docker-compose config` (Debian's 1.29, Python) and `docker compose config` (v2) parse and
validate the file without a Docker daemon. Each test is skipped when its binary is missing; the
static checks in tests/test_docker_files.py run everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of docker/ and the study files, with stand-in secret files (never real ones)."""
    shutil.copytree(ROOT / "docker", tmp_path / "docker",
                    ignore=shutil.ignore_patterns("ray_auth_token", "postgres_password"))
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    for secret in ("ray_auth_token", "postgres_password"):
        path = tmp_path / "docker" / secret
        path.write_text("stand-in\n")
        path.chmod(0o600)
    return tmp_path / "docker"


def _config(cmd: list[str], project: Path) -> dict:
    done = subprocess.run([*cmd, "-p", "hpsearch", "-f", "compose.yaml", "config"], cwd=project,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _check(config: dict) -> None:
    services = config["services"]
    assert {"head", "worker", "driver", "postgres"} <= services.keys()
    head_ports = services["head"]["ports"]
    assert len(head_ports) == 1
    port = head_ports[0]
    if isinstance(port, dict):  # v2 prints the long syntax
        assert (port["host_ip"], str(port["published"]), port["target"]) == (
            "127.0.0.1", "8265", 8265)
    else:
        assert str(port).startswith("127.0.0.1:8265:8265")
    for name, service in services.items():
        if name != "head":
            assert not service.get("ports"), name
    assert "pgdata" in config["volumes"] and "runs" in config["volumes"]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (v1) absent")
def test_docker_compose_v1_accepts_the_file(project):
    version = subprocess.run(["docker-compose", "version", "--short"], capture_output=True,
                             text=True).stdout.strip()
    _check(_config(["docker-compose"], project))
    assert version  # e.g. 1.29.2


def _has_compose_v2() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_compose_v2(), reason="docker compose (v2) absent")
def test_docker_compose_v2_accepts_the_file(project):
    _check(_config(["docker", "compose"], project))
