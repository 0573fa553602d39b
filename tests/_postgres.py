"""A PostgreSQL server for tests, and a fresh database on it for each test.

Where the server comes from, first found wins:

1. ``HPSEARCH_TEST_POSTGRES_URL`` (CI sets it with ``eval "$(.ci/postgres start)"``): a role
   that may create databases, on a server someone else runs.
2. PostgreSQL's own programs (``/usr/lib/postgresql/*/bin``, Debian's ``postgresql`` package): a
   throwaway server in a temporary folder, on 127.0.0.1 and a free port, with password
   authentication, started once per test process and stopped when it ends. As root it runs as the
   ``postgres`` user (``initdb`` refuses root).
3. Neither: the tests that need it are skipped, saying why.

Each test gets its own database (``pg_url``), dropped afterwards, so tests that all name their
study "s" never see each other. A role that may not create databases gets a schema of its own
instead (the URL sets ``search_path``).

Test modules load the fixtures with ``pytest_plugins = ["_postgres"]``: ``tests/`` is on
``sys.path`` through ``tests/conftest.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

ENV = "HPSEARCH_TEST_POSTGRES_URL"


@dataclass
class Server:
    """A reachable server: an admin URL and what started it (None: not ours to stop)."""

    url: str
    data_dir: Path | None = None
    bin_dir: Path | None = None
    user: str | None = None


_server: Server | None = None
_refusal: str | None = None


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as(user: str | None, argv: list[str]) -> list[str]:
    return argv if user is None else ["runuser", "-u", user, "--", *argv]


def start_throwaway(*, durable: bool = False) -> Server:
    """initdb + pg_ctl start in a temporary folder; raises RuntimeError saying what failed.

    ``durable``: PostgreSQL's default commit settings (for benchmarks); otherwise fsync and
    synchronous commits are off, as a test server's data may die with it anyway.
    """
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError(f"no PostgreSQL server here (set {ENV}, or apt-get install "
                           "postgresql)")
    user = None
    if os.geteuid() == 0:  # initdb refuses root: run the server as PostgreSQL's own user
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user to run "
                               "PostgreSQL as") from None
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser to start PostgreSQL as "
                               "'postgres'")
        user = "postgres"
    # Under /tmp, not pytest's tmp_path: the postgres user cannot enter root's 0700 folders.
    top = Path(tempfile.mkdtemp(prefix="hpsearch-pg-"))
    data, password = top / "data", secrets.token_hex(12)
    pwfile = top / "pw"
    pwfile.write_text(password + "\n")
    if user is not None:
        shutil.chown(top, user)
        shutil.chown(pwfile, user)
    top.chmod(0o700)
    port = _free_port()
    steps = [
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
         f"--pwfile={pwfile}", "--encoding=UTF8", "--no-instructions"],
        [str(bin_dir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(data),
         "-l", str(top / "server.log"), "-o",
         f"-p {port} -c listen_addresses=127.0.0.1 -k {top} -c max_connections=200"
         + ("" if durable else
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")],
    ]
    for argv in steps:
        done = subprocess.run(_as(user, argv), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = top / "server.log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            shutil.rmtree(top, ignore_errors=True)
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-1500:]} "
                               f"{tail}")
    return Server(f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres", data, bin_dir,
                  user)


def stop(server: Server) -> None:
    """Stop a server ``start_throwaway`` started and remove its folder (others: nothing)."""
    if server.data_dir is None or server.bin_dir is None:
        return
    subprocess.run(_as(server.user, [str(server.bin_dir / "pg_ctl"), "stop", "-D",
                                     str(server.data_dir), "-m", "immediate", "-w"]),
                   capture_output=True, timeout=60, check=False)
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def server() -> Server:
    """The session's server (started on first use), or ``pytest.skip`` saying why there is none."""
    global _server, _refusal
    if _server is None and _refusal is None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _refusal = 'psycopg is not installed (pip install -e ".[test]")'
        else:
            if os.environ.get(ENV):
                _server = Server(os.environ[ENV])
            else:
                try:
                    _server = start_throwaway()
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    _refusal = f"no PostgreSQL server: {exc}"
                else:
                    atexit.register(stop, _server)
    if _server is None:
        pytest.skip(_refusal)
    return _server


def admin(url: str):
    """An autocommit psycopg connection (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                           password=parsed.password, dbname=parsed.database or "postgres",
                           autocommit=True, connect_timeout=10)


def with_database(url: str, database: str) -> str:
    """``url`` naming another database (the password kept, escaped)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


_templates: dict[str, str] = {}


def _template(admin_url: str) -> str | None:
    """A database holding Optuna's empty schema, to copy for each test (creating the schema
    takes about a second); None where the role may not create databases."""
    import psycopg

    if admin_url not in _templates:
        name = f"hps_template_{secrets.token_hex(4)}"
        with admin(admin_url) as conn:
            try:
                conn.execute(f'CREATE DATABASE "{name}"')
            except psycopg.errors.InsufficientPrivilege:
                return None
        import optuna

        backend = optuna.storages.RDBStorage(with_database(admin_url, name))
        backend.engine.dispose()  # a template must have no connections when it is copied
        _templates[admin_url] = name
        atexit.register(_drop_template, admin_url, name)
    return _templates[admin_url]


def _drop_template(admin_url: str, name: str) -> None:
    with contextlib.suppress(Exception), admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(admin_url: str, *, with_schema: bool = True):
    """A new database (or schema) on the server; yields its URL, drops it afterwards.

    ``with_schema``: holding Optuna's tables, no study yet; False: empty, the tables to be
    created by whoever opens it first.
    """
    import psycopg

    name = f"hps_{secrets.token_hex(6)}"
    template = _template(admin_url) if with_schema else None
    with admin(admin_url) as conn:
        try:
            conn.execute(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}"' if template else ""))
        except psycopg.errors.InsufficientPrivilege:
            schema = True
            conn.execute(f'CREATE SCHEMA "{name}"')
        else:
            schema = False
    url = (admin_url + ("&" if "?" in admin_url else "?")
           + "options=" + quote(f"-csearch_path={name}", safe="")) if schema else (
        with_database(admin_url, name))
    try:
        yield url
    finally:
        with admin(admin_url) as conn:
            if schema:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')
            else:  # FORCE: a connection some test left open must not keep it alive
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def own_role(admin_url: str, password: str):
    """A new login role with ``password`` and an empty database it owns; yields the URL.

    Both are dropped afterwards. Skips the test where the admin role may not create roles.
    """
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    role = f"hps_{secrets.token_hex(4)}"
    ident = sql.Identifier(role)
    with admin(admin_url) as conn:
        try:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                ident, sql.Literal(password)))
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip(f"the role of {ENV} may not create roles (CREATEROLE)")
        try:
            # A non-superuser may give a database only to a role it is a member of.
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
        except BaseException:
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))
            raise
    server = make_url(admin_url)
    try:
        yield make_url(f"postgresql://{server.host}:{server.port}/{role}").set(
            username=role, password=password).render_as_string(hide_password=False)
    finally:
        with admin(admin_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


# -- fixtures (pytest_plugins = ["_postgres"] in the test module that uses them) ------------


@pytest.fixture(scope="session")
def pg_server() -> Server:
    """The PostgreSQL server of this test process (skips the test when there is none)."""
    return server()


@pytest.fixture
def pg_url(pg_server: Server):
    """A URL to a database of this test's own (Optuna's tables, no study), dropped afterwards."""
    with fresh_database(pg_server.url) as url:
        yield url


@pytest.fixture
def pg_empty_url(pg_server: Server):
    """A URL to an empty database of this test's own (no tables), dropped afterwards."""
    with fresh_database(pg_server.url, with_schema=False) as url:
        yield url
