"""Opening the event store from the config: kept apart so store-only commands load no more."""

from __future__ import annotations

from tossd.config.model import Config
from tossd.store.store import Store


def open_store(config: Config, *, long_running: bool = False) -> Store:
    """The store; `long_running` (the daemon) migrates in a child process, so the daemon
    never holds Alembic in memory."""
    audio = config.state_dir / "audio"
    return Store.open(config.store_url, audio_dir=audio, migrate_in_child=long_running)


def open_existing_store(config: Config) -> Store | None:
    """For commands that only read (`events`, `outbox` list): see `Store.open_existing`."""
    return Store.open_existing(config.store_url, audio_dir=config.state_dir / "audio")
