"""docker/compose.yaml under a real Docker engine: a study submitted from the host survives a
worker container killed mid-study (`pytest -m docker`; not in the default run).

The test builds the image from docker/Dockerfile (tag hpsearch-test:latest, so a user's
hpsearch:latest is left alone), brings up the head, two workers and PostgreSQL from compose.yaml
plus tests/docker/compose.test.yaml (the test's PostgreSQL image and a published port for reading
the study) under a project name of its own, on a copy of docker/ and studies/ with fresh secret
files. From the host it submits studies/digits.toml with `hpsearch submit` (token
authentication, storage postgresql://...@postgres:5432), kills a worker container while a trial
runs on it, and checks that the job succeeds with exactly the target number of finished trials,
none left running, nothing finished lost, and the cut-off trial finished on the worker left.
Everything it started is removed afterwards (`down -v`: containers, network, volumes); the images
are kept, so the next run builds from cache.

Skipped where no Docker engine answers (`docker info`) or no Compose is installed, unless
HPSEARCH_REQUIRE_DOCKER=1 (set by .ci/docker), which turns the skip into a failure. Where Docker
Hub cannot be reached, the base image python:3.11.7-slim must exist locally first:
`bash .ci/docker-base-image` builds a stand-in (`.ci/docker` does all of this).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = Path(__file__).resolve().parent / "compose.test.yaml"
POSTGRES_CONTEXT = Path(__file__).resolve().parent / "postgres"
IMAGE = os.environ.get("HPSEARCH_TEST_IMAGE", "hpsearch-test:latest")
POSTGRES_IMAGE = os.environ.get("HPSEARCH_TEST_POSTGRES_IMAGE", "hpsearch-test-postgres:latest")
JOB_SERVER = "http://127.0.0.1:8265"
STUDY = "digits"
# With two one-CPU workers a digits trial takes 2-6 s: 16 trials are about a minute and a half.
# Trials 0 to FREE - 1 run freely; every later one holds at its first step on both workers
# (hpsearch/_hold.py) until the kill, so the kill lands with FREE trials finished and one held
# on each worker, most of the study still to run, however fast the host is.
N_TRIALS = 16
WORKERS = 2
FREE = 4
HOLD = "/tmp/hpsearch-hold"  # HPSEARCH_TEST_HOLD in the worker containers (compose.test.yaml)
# The image user's uid: the builder's own, or 1000 when built as root (docker/Dockerfile).
IMAGE_UID = os.getuid() or 1000

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


def _unavailable(reason: str):
    if os.environ.get("HPSEARCH_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} (HPSEARCH_REQUIRE_DOCKER=1: the Docker test must run)",
                    pytrace=False)
    pytest.skip(reason)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _sh(cmd: list[str], *, timeout: float, check: bool = True, hint: str = "",
        **kwargs) -> subprocess.CompletedProcess:
    """``cmd`` run to its end; on a non-zero exit (with ``check``) a failure with its output."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (
            exc.stdout or "")
        pytest.fail(f"{' '.join(cmd)}: no end after {timeout:.0f} s\n{_tail(out)}", pytrace=False)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {done.returncode}{hint}\n"
                    f"{_tail(done.stdout + done.stderr)}", pytrace=False)
    return done


def _compose_command() -> list[str] | None:
    """Compose v2 (`docker compose`) where installed, else v1 (`docker-compose`), else None."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


@pytest.fixture(scope="module")
def compose_cmd() -> list[str]:
    """The Compose command, once the Docker engine is known to answer."""
    if shutil.which("docker") is None:
        _unavailable("no docker client (install Debian's docker.io, or run .ci/docker)")
    info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                          capture_output=True, text=True, timeout=60)
    if info.returncode != 0 or not info.stdout.strip():
        _unavailable("no Docker engine answers `docker info` "
                     f"({_tail(info.stderr, 1) or 'no server version'}); start dockerd")
    if (cmd := _compose_command()) is None:
        _unavailable("neither `docker compose` (v2) nor `docker-compose` (v1) is installed")
    return cmd


@pytest.fixture(scope="module")
def images(compose_cmd: list[str], tmp_path_factory) -> dict[str, float]:
    """The project image from docker/Dockerfile and the test's PostgreSQL image; build seconds.

    Both at once: on a fresh machine the first is mostly downloads, the second mostly apt.
    """
    seconds = {}
    hint = " (without Docker Hub, build the base image first: bash .ci/docker-base-image)"
    log = tmp_path_factory.mktemp("build") / "postgres-image.log"
    t0 = time.monotonic()
    with open(log, "w") as out:
        postgres = subprocess.Popen(["docker", "build", "-t", POSTGRES_IMAGE,
                                     str(POSTGRES_CONTEXT)], stdout=out, stderr=subprocess.STDOUT)
        try:
            _sh(["docker", "build", "-f", "docker/Dockerfile", "--build-arg",
                 f"UID={os.getuid()}", "-t", IMAGE, "."], cwd=ROOT, timeout=1200, hint=hint)
            seconds["image build"] = time.monotonic() - t0
            code = postgres.wait(timeout=600)
        finally:
            if postgres.poll() is None:
                postgres.kill()
                postgres.wait()
    if code != 0:
        pytest.fail(f"docker build of {POSTGRES_IMAGE} exited {code}{hint}\n"
                    f"{_tail(log.read_text())}", pytrace=False)
    seconds["both images built"] = time.monotonic() - t0
    return seconds


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of docker/ and studies/ with freshly made secret files, readable by the image user.

    Never the real docker/ray_auth_token or docker/postgres_password: fresh ones, mode 600, owned
    by the image user (uid 1000 when the image was built as root, as docs/cluster.md says).
    """
    shutil.copytree(ROOT / "docker", tmp_path / "docker",
                    ignore=shutil.ignore_patterns("ray_auth_token", "postgres_password"))
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    for secret, size in (("ray_auth_token", 32), ("postgres_password", 24)):
        path = tmp_path / "docker" / secret
        path.write_text(secrets.token_hex(size) + "\n")
        path.chmod(0o600)
        if os.getuid() == 0:
            os.chown(path, IMAGE_UID, -1)
    return tmp_path


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass
class Cluster:
    """A compose project of this test: head, workers and PostgreSQL."""

    cmd: list[str]  # compose command with -p and -f
    env: dict[str, str]
    project: Path
    seconds: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 120, check: bool = True
                ) -> subprocess.CompletedProcess:
        return _sh([*self.cmd, *args], timeout=timeout, check=check, env=self.env,
                   cwd=self.project / "docker")

    def containers(self, service: str) -> list[str]:
        """Ids of the service's containers, by container name (worker_1 / worker-1 first)."""
        ids = self.compose("ps", "-q", service).stdout.split()
        names = {cid: _sh(["docker", "inspect", "-f", "{{.Name}}", cid], timeout=30).stdout
                 for cid in ids}
        return sorted(ids, key=lambda cid: names[cid])

    def ip(self, cid: str) -> str:
        return _sh(["docker", "inspect", "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid],
                   timeout=30).stdout.strip()

    def health(self, cid: str) -> str:
        return _sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                   timeout=30).stdout.strip()

    def password(self) -> str:
        return (self.project / "docker" / "postgres_password").read_text().strip()


@pytest.fixture
def cluster(compose_cmd, images, project, request, capsys):
    """`up` of head, WORKERS workers and PostgreSQL; `down -v` afterwards, whatever happened."""
    if _port_taken(8265):
        _unavailable("127.0.0.1:8265 (the head's published job server port) is taken on this "
                     "host: another compose cluster or Ray dashboard runs (`docker ps`)")
    name = f"hpsearch-test-{os.getpid()}-{secrets.token_hex(3)}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("STUDY", "HEAD_CPUS", "WORKER_CPUS", "COMPOSE_FILE",
                        "COMPOSE_PROJECT_NAME")}
    env |= {"HPSEARCH_TEST_IMAGE": IMAGE, "HPSEARCH_TEST_POSTGRES_IMAGE": POSTGRES_IMAGE}
    c = Cluster([*compose_cmd, "-p", name, "-f", str(project / "docker" / "compose.yaml"),
                 "-f", str(OVERRIDE)], env, project, dict(images))
    try:
        t0 = time.monotonic()
        # The workers wait for the head's healthcheck (depends_on: service_healthy).
        c.compose("up", "-d", "--no-build", "--scale", f"worker={WORKERS}", "head", "worker",
                  "postgres", timeout=300)
        (pg,) = c.containers("postgres")
        _wait("PostgreSQL's healthcheck", lambda: c.health(pg) == "healthy", 120, 1.0)
        (head,) = c.containers("head")
        # Every worker joined: the cluster offers WORKERS CPUs (the head none).
        _wait(f"{WORKERS} workers to join the head", lambda: _cluster_cpus(head) == WORKERS,
              240, 2.0)
        c.seconds["compose up, workers joined"] = time.monotonic() - t0
        yield c
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            logs = c.compose("logs", "--no-color", "--tail", "40", timeout=120, check=False)
            print(f"--- compose logs ({name}) ---\n{logs.stdout}{logs.stderr}")
        t0 = time.monotonic()
        c.compose("down", "-v", "--remove-orphans", "-t", "10", timeout=300, check=False)
        c.seconds["compose down -v"] = time.monotonic() - t0
        left = _sh(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"],
                   timeout=30, check=False).stdout.split()
        for cid in left:  # down failed: remove them all the same
            _sh(["docker", "rm", "-f", "-v", cid], timeout=60, check=False)
        assert not left, f"containers of {name} left behind after `down -v`: {left}"
        volumes = _sh(["docker", "volume", "ls", "-q", "--filter",
                       f"label=com.docker.compose.project={name}"], timeout=30).stdout.split()
        assert not volumes, f"volumes of {name} left behind after `down -v`: {volumes}"
        with capsys.disabled():
            print("\n[docker] " + ", ".join(f"{k}: {v:.0f} s" for k, v in c.seconds.items()))


def _cluster_cpus(head: str) -> float | None:
    """The CPUs the Ray cluster offers, from `ray status` in the head container."""
    done = subprocess.run(["docker", "exec", head, "ray", "status"], capture_output=True,
                          text=True, timeout=60)
    found = re.search(r"[\d.]+/([\d.]+) CPU", done.stdout)
    return float(found[1]) if found else None


def _wait(what: str, condition, timeout_s: float, every_s: float):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if found := condition():
            return found
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}", pytrace=False)


class _ContainerHold:
    """The trial hold (hpsearch/_hold.py) inside worker containers, through `docker exec`."""

    def ask(self, cid: str, numbers) -> None:
        names = " ".join(f"trial-{n}" for n in numbers)
        _sh(["docker", "exec", cid, "sh", "-c", f"mkdir -p {HOLD} && cd {HOLD} && touch {names}"],
            timeout=60)

    def release(self, cid: str) -> None:
        _sh(["docker", "exec", cid, "sh", "-c", f"rm -f {HOLD}/all {HOLD}/trial-*"], timeout=60)

    def held(self, cid: str) -> set[int]:
        """Trial numbers held in the container now."""
        done = _sh(["docker", "exec", cid, "sh", "-c",
                    f"cd {HOLD} 2>/dev/null && ls -1 | grep '^held-' || true"], timeout=60)
        return {int(name.removeprefix("held-")) for name in done.stdout.split()}


def _hpsearch(*args: str, env: dict[str, str], cwd: Path, timeout: float = 180
              ) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess, as a user on the host runs it."""
    return _sh([sys.executable, "-m", "hpsearch", *args], env=env, cwd=cwd, timeout=timeout)


class _Reader:
    """The study's trials, read from the host through PostgreSQL's published port.

    Optuna's storage is opened here only once the job's driver has made the study: opening it
    earlier would make (or stamp) Optuna's tables from here, racing the driver doing the same.
    """

    def __init__(self, url: str) -> None:
        self.url, self.storage = url, None

    def _study_made(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=5) as conn:
                return conn.execute("SELECT 1 FROM studies WHERE study_name = %s",
                                    (STUDY,)).fetchone() is not None
        except psycopg.Error:  # no tables yet
            return False

    def trials(self) -> list:
        import optuna

        if self.storage is None:
            if not self._study_made():
                return []
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            self.storage = optuna.storages.RDBStorage(self.url, skip_table_creation=True)
        return optuna.load_study(study_name=STUDY, storage=self.storage).get_trials()


def test_submitted_study_survives_a_killed_worker_container(cluster, capsys):
    from optuna.trial import TrialState

    from hpsearch import _attrs as A
    from hpsearch.search import counts_toward_budget

    c = cluster
    home = c.project / "home"  # no ~/.ray/auth_token of this machine's user in play
    home.mkdir()
    env = os.environ | {"RAY_AUTH_MODE": "token", "HOME": str(home),
                        "RAY_AUTH_TOKEN_PATH": str(c.project / "docker" / "ray_auth_token")}
    for var in ("RAY_AUTH_TOKEN", "RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        env.pop(var, None)
    password = c.password()
    published = c.compose("port", "postgres", "5432").stdout.strip().splitlines()[0]
    host_url = f"postgresql://hpsearch:{password}@{published}/hpsearch"
    reader = _Reader(host_url)
    workers = c.containers("worker")
    assert len(workers) == WORKERS
    victim, survivor = workers[0], workers[1]
    victim_ip, survivor_ip = c.ip(victim), c.ip(survivor)

    # Trials from number FREE on hold at their first step, on both workers: with one CPU each,
    # a worker holding a trial runs nothing else.
    holds = _ContainerHold()
    for cid in workers:
        holds.ask(cid, range(FREE, N_TRIALS))

    # Submitted from the host: the job server on 127.0.0.1:8265, the storage as the job on the
    # head sees it (postgres:5432 on the compose network).
    t0 = time.monotonic()
    done = _hpsearch("submit", f"studies/{STUDY}.toml", "--address", JOB_SERVER,
                     "--storage", f"postgresql://hpsearch:{password}@postgres:5432/hpsearch",
                     "--n-trials", str(N_TRIALS), env=env, cwd=c.project)
    job_id = re.search(r"as job (\S+)", done.stdout)[1]
    assert f"target {N_TRIALS} finished trials" in done.stdout, done.stdout
    assert password not in done.stdout + done.stderr

    # A trial held on the victim, and seen running there in the storage: kill the container.
    # Nothing ends there from the moment it holds (its one CPU waits), so every result recorded
    # from the victim ended before then.
    def running_on_victim(trials) -> set[int]:
        return {t.number for t in trials if t.state == TrialState.RUNNING
                and t.user_attrs.get(A.TRIAL_NODE_IP) == victim_ip}

    def victim_holds():
        held = holds.held(victim)
        if not held:
            return None
        trials = reader.trials()
        finished = sum(t.state.is_finished() for t in trials)
        return ((trials, time.time()) if finished >= FREE - 1 and held & running_on_victim(trials)
                else None)

    before, stopped_at = _wait(f"{FREE - 1} finished trials and one held on the worker to kill, "
                               "running there in the storage", victim_holds, 300, 0.5)
    cut_off = running_on_victim(before)
    _sh(["docker", "kill", victim], timeout=60)
    holds.release(survivor)  # the rest of the study, and the cut-off trial's re-run, go freely
    c.seconds["submit to kill"] = time.monotonic() - t0
    complete_before = {t.number: (t.value, t.params) for t in before
                       if t.state == TrialState.COMPLETE}
    finished_before = sum(t.state.is_finished() for t in before)
    assert cut_off and finished_before < N_TRIALS - 5
    state = _sh(["docker", "inspect", "-f", "{{.State.Running}}", victim], timeout=30)
    assert state.stdout.strip() == "false"

    # The job goes on with the worker left and succeeds.
    from hpsearch import service

    with pytest.MonkeyPatch.context() as mp:
        for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "HOME"):
            mp.setenv(key, env[key])
        mp.delenv("RAY_AUTH_TOKEN", raising=False)
        client = service.connect(JOB_SERVER)
        status = _wait(f"job {job_id} to end", lambda: (
            (s := str(client.call("get_job_status", job_id))) not in service.LIVE and s),
            600, 2.0)
    c.seconds["study (submit to job end)"] = time.monotonic() - t0
    assert status == "SUCCEEDED", _hpsearch("logs", job_id, "--address", JOB_SERVER, env=env,
                                            cwd=c.project).stdout[-3000:]

    # Exactly the target, nothing left running, nothing finished lost.
    trials = reader.trials()
    by_number = {t.number: t for t in trials}
    assert sum(counts_toward_budget(t) for t in trials) == N_TRIALS
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    complete_after = {t.number: (t.value, t.params) for t in trials
                      if t.state == TrialState.COMPLETE}
    assert {n: complete_after.get(n) for n in complete_before} == complete_before
    failed = [t for t in trials if t.state == TrialState.FAIL]
    for t in failed:  # only a trial cut off on the dead worker may fail, and it ran again
        assert t.number in cut_off and t.user_attrs[A.TRIAL_FAILURE].startswith("worker lost")
        reruns = [r for r in trials if r.user_attrs.get(A.TRIAL_RETRY_OF) == t.number]
        assert len(reruns) == 1 and reruns[0].params == t.params
    finished_ok = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished_ok) == N_TRIALS - len(failed)
    # No result from the victim after it held: whatever finished there had ended before
    # (the worker's own clock, the host's kernel's), anything later ran again on the survivor.
    def ended(t) -> float:
        return t.user_attrs[A.TRIAL_STARTED_AT] + t.user_attrs[A.TRIAL_DURATION]

    on_victim = [t for t in trials if t.user_attrs.get(A.TRIAL_NODE_IP) == victim_ip
                 and t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    late = [t.number for t in on_victim if ended(t) > stopped_at]
    assert not late, f"results from the killed worker after it was stopped: {late}"
    rerun = []
    for number in cut_off:  # each trial cut off finished on the worker left
        t = by_number[number]
        if t.state == TrialState.FAIL:
            t = next(r for r in trials if r.user_attrs.get(A.TRIAL_RETRY_OF) == number)
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        if t.user_attrs[A.TRIAL_NODE_IP] == survivor_ip:
            rerun.append(number)
        else:  # its result had left the victim before the hold, recorded only after the read
            assert t.user_attrs[A.TRIAL_NODE_IP] == victim_ip and ended(t) <= stopped_at

    # What a user sees: `hpsearch jobs` and `hpsearch status` (from the host, published port).
    rows = _hpsearch("jobs", "--address", JOB_SERVER, env=env, cwd=c.project).stdout
    row = next(line.split() for line in rows.splitlines() if line.startswith(job_id))
    assert row[1:4] == ["SUCCEEDED", STUDY, f"{N_TRIALS}/{N_TRIALS}"], rows
    shown = _hpsearch("status", STUDY, "--storage", host_url, env=env, cwd=c.project).stdout
    assert shown.startswith(f"study {STUDY}: {N_TRIALS} of"), shown
    assert "no driver is running it" in shown, shown

    with capsys.disabled():
        print(f"\n[docker] trials finished at the kill: {finished_before}/{N_TRIALS}, running on "
              f"the killed worker: {sorted(cut_off)}, run again on the other: {sorted(rerun)}, "
              f"failed and re-run as new trials: {[t.number for t in failed]}")
    reader.storage.engine.dispose()
