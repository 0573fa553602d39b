"""A password in a PostgreSQL URL's query string (issue 26), through a whole study.

libpq takes ``?password=...`` as well as ``user:password@``: the study runs on such a URL from
its study file, is read, tabled and reported, and the password is in no output, no file under
the runs directory (run.log, tables, report), no row of the database and no file of Ray's
session. Needs a PostgreSQL server (``tests/_postgres.py``; skipped, saying why, without one).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.slow
pytest_plugins = ["_postgres"]  # pg_server


def _hpsearch(*args: str, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "hpsearch", *args], capture_output=True,
                          text=True, env=env, timeout=300)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.timeout(400)
def test_a_query_string_password_is_nowhere(tmp_path, pg_server):
    from _postgres import admin, own_role
    from sqlalchemy.engine import make_url

    password = "QsPw" + secrets.token_hex(10)
    with own_role(pg_server.url, password) as userinfo_url:
        parsed = make_url(userinfo_url)
        url = (f"postgresql://{parsed.username}@{parsed.host}:{parsed.port}/{parsed.database}"
               f"?application_name=hps&password={quote(password, safe='')}")
        wrong = url.replace(f"password={password}", "password=WrongPw" + secrets.token_hex(4))
        hidden = {password, "WrongPw"}
        study = tmp_path / "qs.toml"
        study.write_text(f"""[study]
name = "qs"
seed = 3
n_trials = 2
[space]
num_epochs = 2
learning_rate = {{ low = 1e-2, high = 1e-1, log = true }}
[pruner]
name = "none"
[dataset]
name = "digits"
n_train = 300
[run]
storage = "{url}"
""")
        runs = tmp_path / "runs"
        ray_tmp = tempfile.mkdtemp(prefix="hpq")  # short: Ray's socket paths have a length limit
        env = {**os.environ, "RAY_TMPDIR": ray_tmp}
        runs_arg = ["--runs-dir", str(runs)]
        outputs = [(args[0], *_hpsearch(*args, env=env)) for args in (
            ["run", str(study), *runs_arg, "--no-progress"],
            ["status", str(study), *runs_arg],
            ["trials", str(study), *runs_arg],
            ["report", str(study), *runs_arg],
            ["status", "qs", *runs_arg, "--storage", wrong])]
        assert [rc for _, rc, _ in outputs] == [0, 0, 0, 0, 2], outputs
        assert "password=***" in outputs[0][2]  # the run's "storage:" line, redacted
        refused = outputs[-1][2].strip().splitlines()
        assert len(refused) == 1 and "password authentication failed" in refused[0], refused
        for command, _, text in outputs:
            for secret in hidden:
                assert secret not in text, f"hpsearch {command} printed the password"

        written = [p for p in runs.rglob("*") if p.is_file()]
        assert {"run.log", "report.html", "report.md"} <= {p.name for p in written}, written
        assert "password=***" in (runs / "qs" / "run.log").read_text()
        for path in written:
            for secret in hidden:
                assert secret.encode() not in path.read_bytes(), f"{path} holds the password"

        with admin(userinfo_url) as conn:  # every row of every table
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            assert "study_user_attributes" in tables
            stored = [repr(row) for table in tables
                      for row in conn.execute(f'SELECT * FROM "{table}"')]
        assert any("password=***" in row for row in stored)  # the study file, redacted
        assert not [row for row in stored if any(secret in row for secret in hidden)]

    leaked = [str(p) for p in Path(ray_tmp).rglob("*")
              if p.is_file() and not p.is_symlink() and _holds(p, hidden)]
    assert not leaked, f"Ray's session files hold the password: {leaked[:5]}"


def _holds(path: Path, hidden: set[str]) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return any(secret.encode() in data for secret in hidden)
