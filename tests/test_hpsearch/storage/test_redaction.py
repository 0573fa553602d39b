"""Secrets in storage URLs (issue 26): the redaction rule, and the CLI printing none of them.

The rule (``hpsearch.storage.redact``): a URL's user-info password, and the value of every key
naming a secret (``SECRET_KEY_WORDS``: ``password``, ``sslpassword``, ``token``, ...) in a URL's
query, a libpq conninfo string or a dict, become ``***``; keys, users, hosts and paths stay.
The CLI tests run ``hpsearch`` for real (in this process, or as a subprocess) and look for the
secret in everything it printed; nothing here needs Ray or a database server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch.cli import main
from hpsearch.storage import SECRET_KEY_WORDS, StorageError, open_backend, redact

SECRET = "s3cretPW"
OTHER = "k3yPW9"


@pytest.mark.parametrize("text, expected", [
    # user info
    ("postgresql://user:s3cretPW@host:5432/db", "postgresql://user:***@host:5432/db"),
    ("postgresql://:s3cretPW@host/db", "postgresql://:***@host/db"),
    # the query: libpq takes password (and sslpassword, ...) there too
    ("postgresql://user@127.0.0.1:1/db?password=s3cretPW",
     "postgresql://user@127.0.0.1:1/db?password=***"),
    ("postgresql://u@h/db?sslmode=require&sslpassword=k3yPW9&password=s3cretPW#x",
     "postgresql://u@h/db?sslmode=require&sslpassword=***&password=***#x"),
    ("postgresql://u@h/db?PASSWORD=s3cretPW&Auth_Token=k3yPW9",
     "postgresql://u@h/db?PASSWORD=***&Auth_Token=***"),
    ("postgresql://u:s3cretPW@h/db?password=k3yPW9", "postgresql://u:***@h/db?password=***"),
    # files that hold secrets are named, not secret: kept, so a message can say which file
    ("postgresql://u@h/db?passfile=/home/u/.pgpass&sslkey=/k/client.key&password=s3cretPW",
     "postgresql://u@h/db?passfile=/home/u/.pgpass&sslkey=/k/client.key&password=***"),
    # a URL followed by the message's own colon keeps it
    ("storage postgresql://u@h/db?password=s3cretPW: connection failed",
     "storage postgresql://u@h/db?password=***: connection failed"),
    # libpq conninfo strings, quoted or not, with or without spaces around =
    ("host=h port=5 password=s3cretPW user=u", "host=h port=5 password=*** user=u"),
    ("host=h password = 's3cret PW \\' x' dbname=d", "host=h password = '***' dbname=d"),
    # a dict's repr, JSON
    ("{'password': 's3cretPW', 'user': 'u'}", "{'password': '***', 'user': 'u'}"),
    ('{"client_secret": "s3cretPW", "host": "h"}', '{"client_secret": "***", "host": "h"}'),
    # a study file's text
    ('[run]\nstorage = "postgresql://u@h/db?password=s3cretPW"\n',
     '[run]\nstorage = "postgresql://u@h/db?password=***"\n'),
    # what is no secret is left alone
    ('password authentication failed for user "u"', 'password authentication failed for user "u"'),
    ("sqlite:////tmp/a@b/study.db", "sqlite:////tmp/a@b/study.db"),
    ("runs/x/study.db: no such file", "runs/x/study.db: no such file"),
])
def test_the_redaction_rule(text, expected):
    assert redact(text) == expected
    assert redact(expected) == expected  # redacting twice changes nothing


def test_every_secret_key_word_is_redacted_in_a_query():
    for word in SECRET_KEY_WORDS:
        assert redact(f"postgresql://u@h/db?x=1&{word}={SECRET}&y=2") == (
            f"postgresql://u@h/db?x=1&{word}=***&y=2")


def test_the_urls_own_secrets_are_hunted_in_any_form():
    url = "postgresql://user:p%40ss-word@h/db?sslpassword=k3y%20PW9"
    text = "could not connect: bad password p@ss-word; key 'k3y PW9' refused; abc kept"
    assert redact(text, url=url) == (
        "could not connect: bad password ***; key '***' refused; abc kept")
    # a secret too short to hunt in free text is still hidden where it stands in the URL
    assert redact("pw ab and postgresql://u:ab@h/db", url="postgresql://u:ab@h/db") == (
        "pw ab and postgresql://u:***@h/db")


def test_a_database_error_quoting_the_password_in_other_forms_is_redacted(monkeypatch):
    import optuna
    from sqlalchemy.exc import OperationalError

    url = f"postgresql://user@127.0.0.1:1/db?password={SECRET}%20x&sslpassword={OTHER}"

    def refuse(*_args, **_kwargs):
        raise OperationalError("connect", {}, Exception(
            f"bad conninfo: dbname=db user=user password='{SECRET} x' sslpassword={OTHER} "
            f"(decoded: {SECRET} x)"))

    monkeypatch.setattr(optuna.storages, "RDBStorage", refuse)
    with pytest.raises(StorageError) as err:
        open_backend(url)
    text = str(err.value)
    assert SECRET not in text and OTHER not in text and "\n" not in text
    assert "password=***" in text and "bad conninfo" in text


def test_run_log_lines_are_redacted(tmp_path):
    from hpsearch.search._driver import _attach_log_file, log

    before = list(log.handlers)
    try:
        _attach_log_file(tmp_path)
        log.warning("lost postgresql://u@h/db?password=%s: retrying", SECRET)
    finally:
        for handler in log.handlers[len(before):]:
            handler.close()
            log.removeHandler(handler)
    text = (tmp_path / "run.log").read_text()
    assert "password=***: retrying" in text and SECRET not in text


# -- the command line ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:  # bound and closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _study(tmp_path: Path, run: str = "", dataset: str = 'name = "digits"\nn_train = 200') -> Path:
    path = tmp_path / "x.toml"
    path.write_text(f"""[study]
name = "x"
n_trials = 2
[space]
num_epochs = 2
learning_rate = {{ low = 1e-2, high = 1e-1, log = true }}
[dataset]
{dataset}
[run]
{run}
""")
    return path


def _url() -> str:
    # libpq takes the password as a query parameter too; nothing listens on the port.
    return (f"postgresql://user@127.0.0.1:{_free_port()}/db?password={SECRET}"
            f"&sslpassword={OTHER}&passfile=/nowhere/pgpass")


def test_a_query_string_password_from_the_study_file_is_printed_nowhere(tmp_path):
    study = _study(tmp_path, f'storage = "{_url()}"')
    runs = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "hpsearch", "run", str(study), "--runs-dir",
                           str(runs), "--no-progress"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert SECRET not in done.stdout + done.stderr and OTHER not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    # the file and key it came from, then the URL (its secrets ***, the passfile named)
    assert lines[0].startswith(f"error: {study}: [run] storage: postgresql://user@127.0.0.1:")
    assert "password=***&sslpassword=***&passfile=/nowhere/pgpass: " in lines[0]
    assert not runs.exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["status", "trials", "report"])
def test_reading_commands_name_the_study_files_storage_without_its_secrets(tmp_path, capsys,
                                                                          command):
    study = _study(tmp_path, f'storage = "{_url()}"')
    assert main([command, str(study), "--runs-dir", str(tmp_path / "runs")]) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err and OTHER not in out + err
    assert err.startswith(f"error: {study}: [run] storage: postgresql://") and "password=***" in err


@pytest.mark.parametrize("how", ["--storage", "--storage-file"])
def test_a_query_string_password_on_the_command_line_is_printed_nowhere(tmp_path, capsys, how):
    study = _study(tmp_path)
    url = _url()
    if how == "--storage-file":
        (tmp_path / "url").write_text(url + "\n")
        given = str(tmp_path / "url")
    else:
        given = url
    runs = tmp_path / "runs"
    assert main(["run", str(study), "--runs-dir", str(runs), "--no-progress", how, given]) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err and OTHER not in out + err
    # not from the study file: no file and key named
    assert err.startswith("error: storage postgresql://") and "password=***" in err
    assert not runs.exists()


@pytest.mark.parametrize("dataset, what", [
    ('name = "digits"\npath = "/data/digits"', "dataset 'digits' ships with scikit-learn"),
    ('name = "moons"\npath = "/data/moons"', "dataset 'moons' is generated from the seed"),
])
def test_a_path_given_to_a_dataset_that_takes_none_names_file_and_key(tmp_path, capsys, dataset,
                                                                      what):
    study = _study(tmp_path, dataset=dataset)
    runs = tmp_path / "runs"
    assert main(["run", str(study), "--runs-dir", str(runs), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {study}: [dataset] path: {what}") and "takes no path" in err
    assert len(err.strip().splitlines()) == 1
    assert not runs.exists()

