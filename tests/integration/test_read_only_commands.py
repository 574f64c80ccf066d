"""Commands that only read (`events`, `outbox`) never create, migrate or write the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import run_tossd_sync
from support.config import write_config_file
from support.store import sqlite_url

from tossd.store.migrate import upgrade
from tossd.store.revision import HEAD_REVISION, current_revision


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": "http://127.0.0.1:9/apihttp.php", "key": "k-123456"},
    )


@pytest.mark.parametrize("command", [("events",), ("events", "--json"), ("outbox",)])
def test_on_a_fresh_install_they_show_nothing_and_create_nothing(
    config: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = run_tossd_sync(*command, "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "state" / "tossd.db").exists()
    assert len(result.stdout.splitlines()) <= 1  # a table header at most


def test_an_older_schema_is_read_by_no_one_and_left_for_the_daemon(
    config: Path, tmp_path: Path
) -> None:
    db = tmp_path / "state" / "tossd.db"
    db.parent.mkdir()
    upgrade(sqlite_url(db), "0003")  # the schema of the previous release
    result = run_tossd_sync("events", "-c", str(config))
    assert result.returncode == 1
    assert "the database is at schema 0003" in result.stderr
    assert current_revision(sqlite_url(db)) == "0003"  # not migrated behind the daemon's back
    assert HEAD_REVISION != "0003"
