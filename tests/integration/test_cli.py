"""The `ampnexus` command as people type it: options before or after the command, and every
mistake one clear line on stderr, never a traceback."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.integration.test_durability import free_port
from tests.integration.test_durability import run_cli as ampnexus


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The only line on stderr."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ampnexus"), done.stderr
    return lines[0]


def test_database_url_and_log_level_work_before_and_after_the_command(tmp_path: Path) -> None:
    before = f"sqlite:///{tmp_path / 'before.sqlite3'}"
    after = f"sqlite:///{tmp_path / 'after.sqlite3'}"
    done = ampnexus("--database-url", before, "--log-level", "warning", "migrate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = ampnexus("migrate", "--database-url", after, "--log-level", "warning", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "before.sqlite3").exists() and (tmp_path / "after.sqlite3").exists()

    created = ampnexus("apikey", "create", "--name", "ops", "--database-url", after, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    listed = ampnexus("apikey", "list", "--database-url", after, cwd=tmp_path)
    assert " ops " in listed.stdout
    # The default database (./data) was never touched: every command used the one given.
    assert not (tmp_path / "data").exists()


def test_a_database_url_we_do_not_speak_is_refused_naming_the_accepted_forms(
    tmp_path: Path,
) -> None:
    done = ampnexus("serve", "--database-url", "nonsense", cwd=tmp_path)
    assert done.returncode == 2
    line = one_line(done)
    assert "--database-url" in line and "sqlite:///PATH" in line and "postgresql://" in line
    assert "'nonsense'" in line
    assert list(tmp_path.iterdir()) == []  # no SQLite file called "nonsense"


def test_a_password_in_a_refused_url_is_not_echoed(tmp_path: Path) -> None:
    done = ampnexus("migrate", "--database-url", "mysql://me:hunter2@db/x", cwd=tmp_path)
    assert done.returncode == 2
    assert "hunter2" not in one_line(done)


def test_an_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/ampnexus"  # nobody listens there
    done = ampnexus("serve", "--database-url", url, "--http-port", "0", "--ocpp-port", "0",
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    line = one_line(done)
    assert "cannot use the database postgresql://" in line and "refused" in line


@pytest.mark.postgres
def test_a_missing_postgres_database_is_one_line_saying_how_to_make_it(
    tmp_path: Path, postgres_server: str
) -> None:
    url = make_url(postgres_server).set(database="no_such_database")
    done = ampnexus("migrate", "--database-url", url.render_as_string(False), cwd=tmp_path)
    assert done.returncode == 1
    line = one_line(done)
    assert '"no_such_database" does not exist' in line and "createdb no_such_database" in line


def test_an_unusable_sqlite_path_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = f"sqlite:///{tmp_path / 'a-file' / 'ampnexus.sqlite3'}"
    done = ampnexus("serve", "--database-url", url, cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot use the database sqlite:///" in one_line(done)
    directory_instead = ampnexus("migrate", "--database-url", f"sqlite:///{tmp_path}", cwd=tmp_path)
    assert directory_instead.returncode == 1
    assert "unable to open database file" in one_line(directory_instead)


@pytest.mark.parametrize(
    ("taken", "free"), [("--ocpp-port", "--http-port"), ("--http-port", "--ocpp-port")]
)
def test_a_port_in_use_is_named(tmp_path: Path, taken: str, free: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = ampnexus(
            "serve", "--database-url", f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "--host", "127.0.0.1", taken, str(port), free, "0", "--log-level", "warning",
            cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 1
    line = one_line(done)
    assert f"port {port} on 127.0.0.1 is in use" in line and f"choose another with {taken}" in line


@pytest.mark.parametrize(
    "args",
    [["--bogus", "serve"], ["serve", "--bogus"], [], ["serve", "--ocpp-port", "many"]],
    ids=["before", "after", "no-command", "not-a-number"],
)
def test_a_wrong_flag_is_one_line(tmp_path: Path, args: list[str]) -> None:
    done = ampnexus(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert "--help" in one_line(done)
