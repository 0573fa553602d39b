"""What can be checked of docker/ without a Docker engine: files parse, name real paths and
services, publish nothing beyond loopback, keep the token out of the image, and pin exactly the
driver's Python, Ray and Optuna."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (DOCKER / "Dockerfile").read_text()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (DOCKER / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, pinned = line.partition("==")
            assert sep and pinned, f"requirements.lock: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = pinned
    return pins


def _ray_services(compose: dict) -> dict[str, dict]:
    """The services that run Ray (the hpsearch image): every one but the database."""
    return {name: s for name, s in compose["services"].items()
            if s.get("image", "").startswith("hpsearch")}


def _command(service: dict) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def test_compose_names_head_scalable_workers_and_driver(compose):
    services = compose["services"]
    assert {"head", "worker", "driver"} <= services.keys()
    assert "ray start --head" in _command(services["head"])
    assert "--address=head:6379" in _command(services["worker"])
    # `--scale worker=N` needs a worker without a fixed name or host port.
    assert "container_name" not in services["worker"]
    assert "hpsearch run" in _command(services["driver"])
    assert "--address head:6379" in _command(services["driver"])


def test_compose_paths_exist(compose):
    head = compose["services"]["head"]
    context = (DOCKER / head["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / head["build"]["dockerfile"]).is_file()
    studies = re.findall(r"studies/[\w./-]+\.toml", _command(compose["services"]["driver"]))
    assert studies
    for study in studies:
        assert (ROOT / study).is_file(), study


def test_runs_live_on_a_named_volume(compose):
    mounts = compose["services"]["driver"]["volumes"]
    named = [m.split(":")[0] for m in mounts if isinstance(m, str)]
    assert "runs" in named and "runs" in compose["volumes"]
    assert any(m.endswith(":/home/hpsearch/app/runs") for m in mounts)
    assert "--runs-dir runs" in _command(compose["services"]["driver"])


def _published(service: dict) -> list[tuple[str, str]]:
    """(host ip, port spec) of every published port; short and long syntax."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), str(port.get("published", ""))))
        else:
            parts = str(port).split(":")
            out.append((parts[0] if len(parts) == 3 else "", str(port)))
    return out


def test_no_port_published_beyond_loopback(compose):
    for name, service in compose["services"].items():
        assert service.get("network_mode") != "host", name
        for host_ip, spec in _published(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {spec} on all interfaces"
        expose = _command(service)
        assert "--dashboard-host=0.0.0.0" not in expose, name
        assert "0.0.0.0" not in expose, name
    # The job server is the one port published, and only on the host's loopback.
    published = {name: _published(s) for name, s in compose["services"].items() if _published(s)}
    assert published == {"head": [("127.0.0.1", "127.0.0.1:8265:8265")]}


def test_head_runs_the_job_server_on_its_compose_network_address(compose):
    command = _command(compose["services"]["head"])
    assert "--include-dashboard=true" in command and "--dashboard-port=8265" in command
    # Bound to the address the container's hostname resolves to (its compose network address):
    # the network and the published 127.0.0.1 port reach it, nothing binds 0.0.0.0.
    host = re.search(r"--dashboard-host=(\S+)", command)[1]
    assert "gethostbyname(socket.gethostname())" in command and host.startswith('"$$(')
    for name, service in compose["services"].items():
        if name != "head":
            assert "--include-dashboard=true" not in _command(service), name


def test_compose_works_with_docker_compose_v1(compose):
    # Debian's docker-compose 1.29 rejects a top-level `name:` (Compose v2 accepts it).
    assert "name" not in compose and "version" not in compose
    assert set(compose) <= {"services", "volumes", "secrets", "networks", "x-node"}
    for name, service in compose["services"].items():
        for dep in (service.get("depends_on") or {}).values():
            assert set(dep) <= {"condition"}, f"{name}: depends_on keys v1 does not know"
        assert "develop" not in service and "profiles" not in service, name


def test_postgres_password_from_a_secret_and_data_on_a_named_volume(compose):
    pg = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", pg["image"]), "pin the server's version"
    env = pg["environment"]
    assert "POSTGRES_PASSWORD" not in env, "a literal password in the compose file"
    secret = Path(env["POSTGRES_PASSWORD_FILE"]).name
    assert env["POSTGRES_PASSWORD_FILE"] == f"/run/secrets/{secret}"
    assert secret in pg["secrets"] and secret in compose["secrets"]
    secret_file = Path(compose["secrets"][secret]["file"]).name
    assert secret_file in (DOCKER / ".gitignore").read_text().split()
    assert f"**/{secret_file}" in (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert "pgdata:/var/lib/postgresql/data" in pg["volumes"] and "pgdata" in compose["volumes"]
    assert "ports" not in pg and "pg_isready" in pg["healthcheck"]["test"]


def test_token_auth_on_and_token_only_from_a_secret(compose, dockerfile):
    secrets = compose["secrets"]
    assert {"head", "worker", "driver"} <= _ray_services(compose).keys()
    for name, service in _ray_services(compose).items():
        env = service["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert "RAY_AUTH_TOKEN" not in env, f"{name}: a literal token in the compose file"
        secret = Path(env["RAY_AUTH_TOKEN_PATH"]).name
        assert env["RAY_AUTH_TOKEN_PATH"] == f"/run/secrets/{secret}"
        assert secret in service["secrets"] and secret in secrets, name
    # The secret's file is the user's: ignored by git and kept out of the build context.
    token_file = Path(secrets["ray_auth_token"]["file"]).name
    assert token_file in (DOCKER / ".gitignore").read_text().split()
    assert f"**/{token_file}" in (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert "RAY_AUTH_MODE=token" in dockerfile
    assert not re.search(r"^\s*(ENV|ARG)\b.*RAY_AUTH_TOKEN", dockerfile, re.M | re.I)
    assert not re.search(r"^\s*(COPY|ADD)\b.*(token|\.ray)", dockerfile, re.M | re.I)


def test_image_runs_as_a_non_root_user(dockerfile):
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    last_user = max(m.start() for m in re.finditer(r"^USER\b", dockerfile, re.M))
    # The image's command (and so every service's) runs as that user.
    assert re.search(r"^CMD|^ENTRYPOINT", dockerfile[last_user:], re.M)


def test_python_version_is_the_locks(dockerfile):
    # The image's Python is the lock's (a driver outside the image must match it: Ray refuses a
    # Python that differs down to the patch level, and `hpsearch submit` / `run --address` say
    # so in one line). Not this machine's Python: a user's may differ and still run the tests.
    pinned = re.search(r"^ARG PYTHON_VERSION=(\S+)", dockerfile, re.M)[1]
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim\b", dockerfile, re.M)
    assert f"python=={pinned}" in (DOCKER / "requirements.lock").read_text()
    assert tuple(map(int, pinned.split("."))) >= (3, 11)


def test_ray_pin_is_the_installed_version_and_pyprojects():
    # Ray refuses a driver whose Ray differs from the cluster's: pyproject pins it exactly too.
    assert _lock()["ray"] == version("ray")
    deps = [Requirement(d) for d in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    ray = next(r for r in deps if r.name == "ray")
    assert str(ray.specifier) == "==" + _lock()["ray"]


def _caps() -> dict[str, str]:
    """Each capped requirement's upper bound (``<X.Y``), by name, across dependencies and extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"]) + [
        s for name, extra in project["optional-dependencies"].items() if name != "bench"
        for s in extra]
    caps = {}
    for spec in specs:
        req = Requirement(spec)
        upper = [s.version for s in req.specifier if s.operator == "<"]
        pinned = [s.version for s in req.specifier if s.operator == "=="]
        assert upper or pinned, f"pyproject: {spec} has no upper bound (docs/versions.md)"
        if upper:
            caps[canonicalize_name(req.name)] = upper[0]
    return caps


def test_every_range_is_capped_at_the_release_line_after_the_locks():
    # docs/versions.md: a range ends just past the newest minor release CI has run, and the lock
    # holds what CI ran; so the two move together (raise the cap, update the lock, rerun CI).
    # Installs what pip picks today are not compared: that would fail on the day of a release.
    pins = _lock()
    for name, cap in _caps().items():
        if name not in pins:
            continue  # test-only tools (pytest, ruff): capped, not in the image
        parts = cap.split(".")
        line = pins[name].split(".")[:len(parts)]
        line[-1] = str(int(line[-1]) + 1)
        assert line == parts, f"{name}: lock {pins[name]} but pyproject caps at <{cap}"


def test_pins_satisfy_pyproject_and_cover_every_dependency():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = _lock()
    for spec in pyproject["project"]["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} has no pin in docker/requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} is outside pyproject's {req.specifier}")


def test_dockerfile_installs_the_lock_as_constraints(dockerfile):
    assert "COPY docker/requirements.lock" in dockerfile
    assert re.search(r'pip install -c docker/requirements.lock "?\.(\[postgres\])?"?', dockerfile)
    for copied in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+\S+$", dockerfile, re.M):
        assert (ROOT / copied).exists(), f"Dockerfile copies {copied}, which does not exist"


def test_cluster_launcher_file():
    cluster = yaml.safe_load((DOCKER / "cluster.yaml").read_text())
    assert cluster["provider"]["type"] == "local"
    assert cluster["provider"]["head_ip"] and cluster["provider"]["worker_ips"]
    assert any("requirements.lock" in c and "pip install" in c
               for c in cluster["setup_commands"])
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in cluster[key] if "ray start" in c]
        assert start and all("RAY_AUTH_MODE=token" in c for c in start), key
        assert not any("dashboard-host=0.0.0.0" in c for c in start)
    mounts = cluster["file_mounts"]
    assert (ROOT / mounts["~/hpsearch"]).resolve() == ROOT  # `ray up` runs from the repo root
    token = Path(mounts["~/.ray/auth_token"]).name
    assert token in (DOCKER / ".gitignore").read_text().split()


def test_dockerfile_installs_the_postgres_driver_pinned(dockerfile):
    assert re.search(r'pip install -c docker/requirements.lock "\.\[postgres\]"', dockerfile)
    pins = _lock()
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["postgres"]
    for spec in extra:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins and req.specifier.contains(pins[name]), spec
        for flavour in req.extras:  # psycopg[binary] -> psycopg-binary, same version
            assert pins[canonicalize_name(f"{req.name}-{flavour}")] == pins[name]


def _user_step(dockerfile: str) -> str:
    """The Dockerfile's RUN step that creates the user, as one shell command."""
    steps = re.findall(r"^RUN ((?:.*\\\n)*.*)$", dockerfile, re.M)
    step = next(s for s in steps if "useradd" in s)
    return step.replace("\\\n", "\n")


@pytest.mark.parametrize("uid, expected", [("1000", "1000"), ("4242", "4242"), ("0", "1000")])
def test_user_step_builds_as_root_and_never_makes_uid_0(dockerfile, tmp_path, uid, expected):
    """Run the user step with a stand-in useradd: a root build (UID=0) must not ask for uid 0."""
    import subprocess

    log = tmp_path / "useradd.log"
    fake = tmp_path / "useradd"
    fake.write_text(f'#!/bin/sh\necho "$@" > {log}\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "UID": uid}
    script = f"UID={uid}\n" + _user_step(dockerfile)
    done = subprocess.run(["sh", "-ec", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    args = log.read_text().split()
    assert args[args.index("--uid") + 1] == expected
    assert args[-1] == "hpsearch"
