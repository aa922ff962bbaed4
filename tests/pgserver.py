"""A throwaway PostgreSQL server for the tests: `initdb` and `pg_ctl` in a temporary
folder, listening only on a Unix socket in that folder (no TCP port, nothing shared with
a server the machine may run), stopped and removed at the end of the test session.

Nothing is assumed to be running. The server programs come from the distribution's
packages (`scripts/setup.sh dev` installs Debian's `postgresql` when it is missing);
PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres`
account the package creates, and the tests connect over the socket as the cluster's
superuser `facedesk_test_admin` (trust authentication on the socket only).

`PostgresServer.new_database()` gives each test a database of its own; `url(db, user)` is
the libpq URL a test or a FaceDesk process opens (`postgresql://user@/db?host=SOCKETDIR`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "facedesk_test_admin"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs on this machine (say how to install them)."""


def server_bin() -> Path:
    """The folder of initdb/pg_ctl: PATH first, then Debian's versioned folders (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                    else 0, reverse=True):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    raise PostgresUnavailable(
        "PostgreSQL's server programs (initdb, pg_ctl) are not installed: run "
        "`bash scripts/setup.sh dev` as root, or `sudo apt-get install -y postgresql`")


class PostgresServer:
    def __init__(self) -> None:
        self.bin = server_bin()
        self.root = Path(tempfile.mkdtemp(prefix="facedesk-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.socket_dir.mkdir()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            # the cluster belongs to the distribution's postgres account; the socket folder
            # must be reachable by the tests (root) and the server (postgres)
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            os.chmod(self.root, 0o755)
        self.port = 5432  # only names the socket file (.s.PGSQL.5432); no TCP listener
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                   "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        log = self.root / "server.log"
        opts = (f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
                f"-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
                f"-c max_connections=200 -c shared_buffers=128MB -p {self.port}")
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(log),
                   "-o", opts, "-w", "-t", "60", "start"])

    def _run(self, cmd: list[str]) -> None:
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "server.log"
            extra = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}\n{extra}")

    def url(self, database: str = "postgres", user: str = SUPERUSER,
            password: str | None = None) -> str:
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return (f"postgresql://{auth}@/{quote(database, safe='')}"
                f"?host={quote(str(self.socket_dir), safe='')}&port={self.port}")

    def admin_sql(self, sql: str, database: str = "postgres") -> None:
        """Run statements as the cluster's superuser (autocommit: CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # tests' own literal SQL

    def new_database(self) -> str:
        """A fresh, empty database's name."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin_sql(f'CREATE DATABASE "{name}"')
        return name

    def new_owned_database(self) -> tuple[str, str, str]:
        """A fresh database owned by an owner role of its own (LOGIN CREATEROLE, no
        superuser), as the README's server setup makes it: (database, owner, a tag that
        makes the test's login names unique on this server)."""
        name = self.new_database()
        tag = name[2:10]
        owner = f"owner_{tag}"
        self.admin_sql(f"CREATE ROLE {owner} LOGIN CREATEROLE; "
                       f'ALTER DATABASE "{name}" OWNER TO {owner}; '
                       f"ALTER SCHEMA public OWNER TO {owner}", name)
        return name, owner, tag

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                       "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)
