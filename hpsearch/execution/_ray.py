"""Start the embedded Ray instance, or join a cluster, without exposing anything.

``init_ray`` replaces a bare ``ray.init``. What it does beyond that, and why (Ray 2.60, read
from its code and checked on Linux):

* **Loopback only.** Ray's servers (GCS, raylet, object manager, core workers, dashboard agent,
  runtime-env agent, the three Prometheus endpoints) bind 127.0.0.1 only when the node IP is a
  loopback address; otherwise they bind all interfaces. Ray maps a loopback ``node_ip_address``
  (``ray.init(_node_ip_address=...)``, ``ray start --node-ip-address``) back to the machine's
  routable IP *unless* ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the switch Ray uses on
  macOS/Windows to keep a laptop instance on loopback (``ray_constants.ENABLE_RAY_CLUSTER``,
  read when ``ray`` is first imported). So the embedded instance is started with that variable
  set to 0 (when ``ray`` was imported earlier, its import-time copy is set to False for the
  ``ray.init`` call: the one private attribute touched here), and ``init_ray`` refuses to leave
  a started instance listening elsewhere.
* **Token file 0600.** A local ``ray.init`` turns token authentication on and, when no token
  exists, writes ``~/.ray/auth_token`` with the process umask (0644 usually). ``init_ray``
  creates that file itself first, mode 0600, in a 0700 ``~/.ray`` it creates if missing.
* **No stragglers after SIGKILL.** GCS and raylet die with the driver (Ray starts them with
  ``PR_SET_PDEATHSIG``), but the dashboard and runtime-env agents (children of the raylet)
  report the raylet's death to the now dead GCS with a fixed 60 s timeout before exiting, so
  they linger about a minute. A small watchdog process started here waits on the driver and
  then kills exactly the processes of this instance: those ``ray.init`` started as the
  driver's children and their descendants (listed every second, each pinned by PID and start
  time), and any process that still shows a random marker in its environment, which the
  instance's processes inherit from ``ray.init``.
* **Unreachable clusters fail fast.** A ``HOST:PORT`` address is checked before ``ray.init``
  (which would otherwise retry for about a minute): its form, its host resolved, one short TCP
  connect.
* **The cluster runs what the driver runs.** Once joined, one tiny task per alive node
  (``num_cpus=0``, pinned to the node) reads that node's versions of hpsearch, Ray and Optuna
  from package metadata, and ``hpsearch._versions.check_versions`` refuses a difference that
  matters, in one line naming the node. A refused join leaves Ray shut down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from hpsearch._net import is_loopback, reach

__all__ = ["RayStartError", "check_address", "check_cluster_versions", "cluster_versions",
           "init_ray", "join_cluster", "joins_cluster"]

logger = logging.getLogger(__name__)

#: Environment variable that marks every process of one embedded instance (value: a UUID).
MARK_ENV = "HPSEARCH_RAY_INSTANCE"
#: Ray's switch that keeps the node IP on loopback (see the module docstring).
_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: Seconds the version check on a joined cluster's nodes may take (a worker starts on each).
VERSION_CHECK_TIMEOUT_S = 60.0

# Watchdogs started by this process (their Popen objects, so they are reaped).
_watchdogs: list[subprocess.Popen] = []


class RayStartError(RuntimeError):
    """Ray could not be started or joined; the message says what to check."""


def init_ray(address: str | None, *, num_cpus: int | None = None) -> bool:
    """Start the embedded Ray instance, or connect to a running cluster.

    Args:
        address: None (or "local") starts an embedded instance for this process alone;
            "auto", "HOST:PORT" or "ray://HOST:PORT" only connects to that cluster and changes
            nothing there.
        num_cpus: CPUs of the embedded instance (default: all); ignored when joining.

    Returns:
        True when this call started Ray (the caller shuts it down with ``ray.shutdown()``);
        False when Ray was already initialized in this process or a cluster was joined.

    Raises:
        RayStartError: the cluster address is malformed, unresolvable or unreachable, or the
            cluster refused the driver, or the embedded instance could not be kept on loopback.
        hpsearch._versions.VersionMismatch: the cluster runs other versions (see
            ``join_cluster``).
    """
    if joins_cluster(address):
        join_cluster(address)
        return False
    if _initialized():
        return False
    return _start_embedded(num_cpus)


def _initialized() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


# ---------------------------------------------------------------------------------------------
# joining a cluster


def joins_cluster(address: str | None) -> bool:
    """Whether ``address`` names a cluster to join (not None or "local": the embedded one)."""
    return address is not None and address != "local"


def join_cluster(address: str) -> bool:
    """Check the cluster at ``address``, join it, and compare its versions with this driver's.

    In that order, each refusal one line: the address (its form, its host resolved, one TCP
    connect: ``check_address``), the join (``ray.init``), then every alive node's versions
    (``check_cluster_versions``). Nothing is written anywhere before the join succeeds; a
    refused join leaves Ray shut down. The address is checked even when Ray is already
    initialized in this process (then nothing is joined).

    Args:
        address: "auto", "HOST:PORT" or "ray://HOST:PORT".

    Returns:
        True when this call connected (``ray.shutdown()`` disconnects it); False when Ray was
        already initialized in this process.

    Raises:
        RayStartError: the address is malformed, unresolvable or unreachable, the cluster
            refused the driver, or a node did not answer the version check.
        hpsearch._versions.VersionMismatch: a node lacks hpsearch or runs other versions.
    """
    check_address(address)
    if _initialized():
        return False
    import ray

    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, TimeoutError, ray.exceptions.AuthenticationError) as e:
        ray.shutdown()  # a half-made connection (auth refused after connect) is closed too
        raise RayStartError(
            f"cannot join the Ray cluster at {address!r}: {e}. Check that RAY_AUTH_MODE=token "
            "and the cluster's token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) "
            "are set, and that this driver runs the cluster's Ray and Python versions") from None
    try:
        check_cluster_versions(address)
    except BaseException:
        ray.shutdown()
        raise
    return True


def _split_host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of "HOST:PORT", "[V6]:PORT" or "ray://HOST:PORT"; None for others."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    return (host, int(port)) if host else None


_FORMS = ("'auto', HOST:PORT or ray://HOST:PORT (the address `ray start --head` printed, port "
          "6379 by default)")


def check_address(address: str) -> None:
    """Refuse a cluster address that is malformed, does not resolve, or where nothing listens.

    "auto" (Ray finds the cluster of this machine) is left to ``ray.init``, which refuses it
    at once when there is none.

    Raises:
        RayStartError: one line naming the address and what to check.
    """
    if address == "auto":
        return
    scheme = address.split("://", 1)[0].lower() if "://" in address else None
    if scheme in ("http", "https"):
        raise RayStartError(
            f"cluster address {address!r} is a job server's (the dashboard's): "
            "`hpsearch run --address` joins the cluster itself at HOST:PORT (port 6379 by "
            "default); to run the study as a job there, use `hpsearch submit STUDY --address "
            f"{address}`")
    target = _split_host_port(address)
    if target is None or scheme not in (None, "ray"):
        raise RayStartError(f"cluster address {address!r}: expected {_FORMS}")
    host, port = target
    if not 1 <= port <= 65535:
        raise RayStartError(f"cluster address {address!r}: port {port} is out of range; "
                            f"expected 1 to 65535 ({_FORMS})")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise RayStartError(
            f"cannot resolve the host of the Ray cluster at {address!r} ({host!r}: {reason}). "
            "Check the name, or give the head node's IP address") from None
    try:
        reach(host, port)
    except OSError as e:
        raise RayStartError(
            f"cannot reach the Ray cluster at {address!r} ({e}). Check that its head node "
            f"is running (`ray start --head`), that {address} is the GCS address it printed "
            "(port 6379 by default), and that this machine can reach it (firewall, SSH "
            "tunnel)") from None


def _node_versions_task() -> Callable[[list[str]], dict[str, str | None]]:
    """The function the version check runs on each node.

    A closure, so that Ray ships it by value: a node without hpsearch can still run it, and
    say so.
    """

    def node_versions(packages: list[str]) -> dict[str, str | None]:
        import sys
        from importlib import metadata

        out: dict[str, str | None] = {}
        for name in packages:
            try:
                out[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                out[name] = None
        out["executable"] = sys.executable
        return out

    return node_versions


def cluster_versions(timeout_s: float = VERSION_CHECK_TIMEOUT_S
                     ) -> list[tuple[str, dict[str, str | None]]]:
    """What each alive node of the Ray this process is connected to runs.

    One task per node (``num_cpus=0``, so it never waits for a free CPU; pinned to the node
    with ``NodeAffinitySchedulingStrategy``) returns that node's versions of
    ``hpsearch._versions.PACKAGES`` (package metadata; nothing imported) and the interpreter
    its workers run.

    Returns:
        ``(node IP, versions)`` for each alive node; the versions hold an ``executable`` key.

    Raises:
        RayStartError: a node did not answer within ``timeout_s`` or its task failed.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from hpsearch._versions import PACKAGES

    task = ray.remote(num_cpus=0, max_retries=0)(_node_versions_task())
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"],
                                                                             soft=False),
                         name="hpsearch-version-check").remote(list(PACKAGES))
            for n in nodes]
    ips = [str(n.get("NodeManagerAddress") or n["NodeID"]) for n in nodes]
    _, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    if pending:
        silent = sorted({ip for ip, ref in zip(ips, refs, strict=True) if ref in pending})
        for ref in pending:
            ray.cancel(ref, force=True)
        raise RayStartError(
            f"node {', '.join(silent)} of the cluster did not answer the version check within "
            f"{timeout_s:.0f} s: check that its Ray workers can start (`ray status`, the node's "
            "/tmp/ray/session_latest/logs)")
    found = []
    for node, ip, ref in zip(nodes, ips, refs, strict=True):
        try:
            found.append((ip, ray.get(ref)))
        except ray.exceptions.RayError as e:
            if not _still_alive(node["NodeID"]):
                # It died between the list and its task (a node lost a moment ago, not yet
                # marked dead): no trial will run there, so nothing to compare.
                logger.info("node %s left the cluster during the version check", ip)
                continue
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RayStartError(f"the version check on node {ip} of the cluster failed: "
                                f"{first}") from None
    return found


def _still_alive(node_id: str) -> bool:
    import ray

    return any(n["NodeID"] == node_id and n.get("Alive") for n in ray.nodes())


def check_cluster_versions(address: str,
                           found: list[tuple[str, dict[str, str | None]]] | None = None) -> None:
    """Refuse a cluster whose nodes cannot run this driver's trials (``_versions.check_versions``).

    Args:
        address: the cluster, as the message names it.
        found: ``(node IP, versions)`` pairs; default ``cluster_versions()`` of the Ray this
            process is connected to.

    Raises:
        hpsearch._versions.VersionMismatch: a node lacks hpsearch or runs other versions; one
            line naming the node, both sides' versions and what must match.
        RayStartError: a node did not answer (``cluster_versions``).
    """
    from hpsearch._versions import check_versions, local_versions

    local = local_versions()
    for ip, remote in cluster_versions() if found is None else found:
        check_versions(local, remote, where=f"node {ip} of the cluster at {address}")


# ---------------------------------------------------------------------------------------------
# the embedded instance


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the block (processes started in it inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _start_embedded(num_cpus: int | None) -> bool:
    mark = uuid.uuid4().hex
    env = {MARK_ENV: mark}
    # An explicit setting is the user's choice (e.g. "1" to listen on the node IP on purpose).
    pinned = _LOOPBACK_ENV not in os.environ
    if pinned:
        env[_LOOPBACK_ENV] = "0"
    token = _prepare_token_file()
    linux = sys.platform.startswith("linux")  # the watchdog reads /proc
    before = _children(_proc_table(), os.getpid()) if linux else {}
    with _env(**env):
        import ray
        import ray._private.ray_constants as ray_constants

        # ray was imported before the variable was set: its import-time copy needs the same
        # value (the one private attribute used here; Ray offers no public switch for this).
        patch = pinned and getattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        if patch:
            ray_constants.ENABLE_RAY_CLUSTER = False
        try:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                     dashboard_host="127.0.0.1", log_to_driver=False, configure_logging=False)
        finally:
            if patch:
                ray_constants.ENABLE_RAY_CLUSTER = True
    _secure_token_file(token)
    node_ip = ray.util.get_node_ip_address()
    if pinned and not is_loopback(node_ip):
        ray.shutdown()
        raise RayStartError(
            f"the embedded Ray instance would listen on {node_ip}, not only on 127.0.0.1 "
            f"(Ray {ray.__version__} ignored {_LOOPBACK_ENV}=0); set {_LOOPBACK_ENV}=1 to accept "
            "that, or start a cluster yourself and pass its address")
    if linux:
        core = {p: t for p, t in _children(_proc_table(), os.getpid()).items()
                if before.get(p) != t}
        _start_watchdog(mark, core)
    return True


def _default_token_path() -> Path | None:
    """The token file a local ``ray.init`` creates when none exists, or None if it won't."""
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token":
        return None
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return None
    return Path.home() / ".ray" / "auth_token"


def _prepare_token_file() -> tuple[Path, bool] | None:
    """Create Ray's default token file with mode 0600 if it is missing.

    Returns (path, existed before) for ``_secure_token_file``, or None when Ray will not use
    that file.
    """
    path = _default_token_path()
    if path is None:
        return None
    existed = path.exists()
    if not existed:
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            existed = True  # created meanwhile by someone else: theirs, leave it be
        except OSError as e:
            logger.warning("could not create %s (%s); Ray will create it", path, e)
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))  # the format of Ray's own generator
    return path, existed


def _secure_token_file(token: tuple[Path, bool] | None) -> None:
    """Make the token file private if Ray created it during this call; warn otherwise."""
    if token is None:
        return
    path, existed = token
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if not mode & 0o077:
        return
    if existed:
        logger.warning("Ray's token file %s is readable by others (mode %o): chmod 600 it",
                       path, mode)
    else:
        path.chmod(0o600)


# ---------------------------------------------------------------------------------------------
# the watchdog: kills this instance's processes when the driver dies


def _proc_table() -> dict[int, tuple[int, int]]:
    """{pid: (parent pid, start time in clock ticks)} of every process (Linux /proc)."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            table[int(name)] = (int(fields[1]), int(fields[19]))
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return table


def _children(table: dict[int, tuple[int, int]], pid: int) -> dict[int, int]:
    return {p: start for p, (ppid, start) in table.items() if ppid == pid}


def _descendants(table: dict[int, tuple[int, int]], roots: set[int]) -> dict[int, int]:
    """{pid: start time} of every descendant of ``roots`` (not the roots themselves)."""
    by_parent: dict[int, list[int]] = {}
    for p, (ppid, _) in table.items():
        by_parent.setdefault(ppid, []).append(p)
    found: dict[int, int] = {}
    todo = list(roots)
    while todo:
        for child in by_parent.get(todo.pop(), ()):
            if child not in found:
                found[child] = table[child][1]
                todo.append(child)
    return found


def _start_watchdog(mark: str, core: dict[int, int]) -> None:
    """Start the watchdog of the instance whose processes the driver started as ``core``."""
    _watchdogs[:] = [p for p in _watchdogs if p.poll() is None]
    env = {k: v for k, v in os.environ.items() if k != MARK_ENV}
    started = ",".join(f"{pid}:{start}" for pid, start in sorted(core.items()))
    try:
        # -I: no PYTHON* variables, no user site, no script directory on sys.path.
        proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), "--watch", str(os.getpid()), mark,
             started],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, close_fds=True, start_new_session=True)
    except OSError as e:
        logger.warning("could not start the Ray watchdog (%s): if this process is killed, "
                       "Ray's agents may outlive it by a minute", e)
        return
    _watchdogs.append(proc)


def _marked_pids(mark: str) -> set[int]:
    """This user's processes whose environment still shows ``MARK_ENV=mark``.

    Not all of them: a process that renames itself (setproctitle: Ray's agents and workers)
    may overwrite the memory /proc/PID/environ shows.
    """
    needle = f"{MARK_ENV}={mark}".encode()
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.add(int(name))
        except OSError:  # gone, or another user's process
            continue
    return found


def _alive(known: dict[int, int], table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """The processes of ``known`` still running (same PID *and* start time)."""
    return {p: start for p, start in known.items() if table.get(p, (0, -1))[1] == start}


def _kill_instance(known: dict[int, int], mark: str) -> None:
    """SIGKILL the instance: known processes, their descendants, marked ones; twice over."""
    me = os.getpid()
    for _ in range(2):
        table = _proc_table()
        victims = set(_alive(known, table)) | _marked_pids(mark)
        victims |= set(_descendants(table, victims))
        for pid in victims - {me}:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def _watch(driver_pid: int, mark: str, core: dict[int, int]) -> None:
    """Wait until the driver dies, then kill the instance; or leave once Ray shut it down.

    ``core``: {pid: start time} of the processes ``ray.init`` started as the driver's children
    (GCS, raylet, monitors). Their descendants (agents, workers) are re-listed every second:
    when the raylet dies they are orphaned, and the tree no longer says whose they were.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        pidfd = os.pidfd_open(driver_pid)
    except (AttributeError, OSError):
        pidfd = None
    import select

    known = dict(core)
    while True:
        # One scan of /proc a second: cheap next to the processes it watches (docs/benchmarks.md).
        table = _proc_table()
        if not _alive(core, table):
            # ray.shutdown() (or a crash) with the driver alive: clear what Ray leaves behind.
            time.sleep(5.0)
            _kill_instance(known, mark)
            return
        known = _alive(known, table)
        known.update(_descendants(table, set(known)))
        if pidfd is not None:
            driver_gone = bool(select.select([pidfd], [], [], 1.0)[0])
        else:
            time.sleep(0.5)
            driver_gone = os.getppid() != driver_pid
        if driver_gone:
            _kill_instance(known, mark)
            return


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--watch":
    _watch(int(sys.argv[2]), sys.argv[3],
           {int(p): int(t) for p, t in (x.split(":") for x in sys.argv[4].split(",") if x)})
