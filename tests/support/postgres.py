"""A throwaway PostgreSQL server on loopback for tests: initdb in a temp dir, `pg_ctl start`
on a free port, a fresh database per test; skipped where the server or psycopg is missing."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .net import free_port

#: The server's superuser, with a password so that tests can check it never shows.
USER, PASSWORD = "tossd", "pg-s3cret-5e1f"
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")


def _program(name: str) -> str | None:
    """On PATH, or where Debian's postgresql package keeps it (newest version first)."""
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return shutil.which(name) or next((str(path) for path in versions), None)


def missing() -> str | None:
    """Why no server can be started here, or None when one can."""
    absent = [name for name in SERVER_PROGRAMS if _program(name) is None]
    if absent:
        return f"PostgreSQL's {', '.join(absent)} not on PATH"
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg (3) is not installed"
    if os.geteuid() == 0 and _postgres_user() is None:
        return "running as root, and no `postgres` user to run the server as"
    return None


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def _as_server_user(command: list[str]) -> list[str]:
    """The server refuses to run as root: as root, run it as `postgres`."""
    command = [_program(command[0]) or command[0], *command[1:]]
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def serve_postgres() -> Iterator[str]:
    """A server until the block ends; yields the URL of its `postgres` database."""
    # Not under pytest's tmp_path: its parents are 0700 root, which `postgres` cannot enter.
    base = Path(tempfile.mkdtemp(prefix="tossd-pg-"))
    data, password_file = base / "data", base / "password"
    password_file.write_text(PASSWORD + "\n")
    user = _postgres_user()
    if os.geteuid() == 0 and user is not None:
        os.chown(base, user.pw_uid, user.pw_gid)
        os.chown(password_file, user.pw_uid, user.pw_gid)
    port = free_port()
    run = subprocess.run
    try:
        initdb = ["initdb", "-D", str(data), "-U", USER, f"--pwfile={password_file}"]
        run(_as_server_user([*initdb, "-A", "scram-sha-256"]), check=True, capture_output=True)
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off"
        start = ["pg_ctl", "-D", str(data), "-l", str(base / "log"), "-o", options, "-w"]
        run(_as_server_user([*start, "start"]), check=True, capture_output=True)
        try:
            yield f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
        finally:
            stop = ["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"]
            run(_as_server_user(stop), check=False, capture_output=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """Create the empty database `name` on the server; its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name
