"""A throwaway PostgreSQL cluster from Debian's `postgresql` package, for tests and bench/.

`initdb` in a temporary folder, `pg_ctl start` on a free loopback port, `pg_ctl stop` at the
end. PostgreSQL refuses to run as root, so when we are root the cluster belongs to the
`postgres` system user (the Debian package creates it). Nothing listens beyond 127.0.0.1
unless `listen` names more addresses (the multi-host harness adds its namespaces' link).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg

from followflow.prefect_server import free_port

PASSWORD = "ff-test-password"
SUPERUSER = "followflow"
_PREFIX = "followflow-pg-"


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's server binaries, or None where there are none."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name),
    )
    return versions[-1].parent if versions else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftover_clusters(bin_dir: Path) -> list[Path]:
    """Stop and remove clusters whose owning process is gone (a test session killed before
    its teardown leaves its cluster running); clusters of live sessions are left alone."""
    swept = []
    for root in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((root / "owner").read_text())
        except (OSError, ValueError):
            continue  # being made right now, or not ours
        if _alive(owner):
            continue
        command = [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
        swept.append(root)
    return swept


class PostgresCluster:
    """One cluster: `start()`, `url(db)`, `create_database(db)`, `restart()`, `stop()`."""

    def __init__(self, bin_dir: Path, *, listen: Sequence[str] = ("127.0.0.1",)) -> None:
        self.bin_dir = bin_dir
        self.listen = tuple(listen)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=_PREFIX))
        self.data = self.root / "data"
        self._run_as = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True)

    def start(self) -> PostgresCluster:
        sweep_leftover_clusters(self.bin_dir)
        (self.root / "owner").write_text(str(os.getpid()))
        if self._run_as is not None:
            user = pwd.getpwnam(self._run_as)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        password_file = self.root / "pwfile"
        password_file.write_text(PASSWORD)
        if self._run_as is not None:
            os.chown(password_file, pwd.getpwnam(self._run_as).pw_uid, -1)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={password_file}",
            "--encoding=UTF8",
            "--locale=C",
        )
        options = " ".join(
            [
                f"-c listen_addresses='{','.join(self.listen)}'",
                f"-c port={self.port}",
                f"-c unix_socket_directories='{self.root}'",
                "-c max_connections=300",
                "-c fsync=off",  # a throwaway cluster: durability across power loss is moot
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        hba = self.data / "pg_hba.conf"
        hba.write_text(
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all 0.0.0.0/0 scram-sha-256\n"
        )
        self._pg_ctl_options = options
        self.start_again()
        return self

    def restart(self, *, mode: str = "fast") -> None:
        """Stop and start again (every connection is cut), e.g. in the middle of a run."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.start_again()

    def stop_server(self, *, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def start_again(self) -> None:
        # `-l`: the server must not inherit our pipes, or waiting for pg_ctl never ends.
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            log,
            "-o",
            self._pg_ctl_options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def url(self, database: str = "postgres", *, host: str = "127.0.0.1") -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@{host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.data.exists():
            self.stop_server(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)
