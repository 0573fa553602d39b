"""The build context filter holds for every builder: BuildKit reads docker/Dockerfile.dockerignore,
the legacy builder and docker-compose 1.29 read only the context root's .dockerignore (measured:
without it they sent the whole repository, secret files included, to the daemon)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_root_dockerignore_equals_the_dockerfile_one():
    root = _patterns(ROOT / ".dockerignore")
    assert root == _patterns(ROOT / "docker" / "Dockerfile.dockerignore")
    for secret in ("**/ray_auth_token", "**/postgres_password", "runs", ".git"):
        assert secret in root
