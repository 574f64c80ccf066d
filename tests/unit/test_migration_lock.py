"""The migration lock: held, it makes others wait a bounded time; free, it costs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.postgres import PASSWORD
from support.store import sqlite_url

from tossd.errors import StoreError
from tossd.store.engine import mask_url
from tossd.store.migrate import upgrade
from tossd.store.migration_lock import await_migration, lock_file, migration_lock
from tossd.store.revision import HEAD_REVISION, current_revision


def test_a_held_lock_fails_a_second_migration_after_the_timeout_naming_the_database(
    store_url: str,
) -> None:
    with migration_lock(store_url), pytest.raises(StoreError) as caught:
        upgrade(store_url, lock_timeout_s=0.2)
    message = caught.value.message
    assert message.startswith(f"could not migrate the database {mask_url(store_url)}: ")
    assert "migration lock" in message and "0.2 s" in message
    assert PASSWORD not in message
    assert current_revision(store_url) is None  # it did not migrate behind the holder's back


def test_a_reader_behind_a_migration_gives_up_after_the_timeout(store_url: str) -> None:
    with migration_lock(store_url), pytest.raises(StoreError) as caught:
        await_migration(store_url, timeout_s=0.1)
    assert caught.value.message.startswith(f"could not read the database {mask_url(store_url)}")
    assert PASSWORD not in caught.value.message


def test_the_lock_is_free_again_after_a_failed_migration(store_url: str) -> None:
    with pytest.raises(StoreError, match="no-such-revision"):
        upgrade(store_url, "no-such-revision")
    with migration_lock(store_url, timeout_s=0):  # timeout 0: one try, no waiting
        pass
    upgrade(store_url, lock_timeout_s=0)
    assert current_revision(store_url) == HEAD_REVISION


def test_a_reader_creates_nothing_and_waits_for_nothing_without_a_migration(
    tmp_path: Path,
) -> None:
    await_migration(sqlite_url(tmp_path / "tossd.db"), timeout_s=0)
    assert list(tmp_path.iterdir()) == []


def test_the_sqlite_lock_is_a_private_file_beside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "tossd.db"
    upgrade(sqlite_url(db))
    assert lock_file(db) == tmp_path / "tossd.db.migrate-lock"
    assert lock_file(db).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory"])
def test_in_memory_databases_have_nothing_to_share_and_no_lock(url: str) -> None:
    with migration_lock(url, timeout_s=0), migration_lock(url, timeout_s=0):
        pass
