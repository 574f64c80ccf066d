"""Opening the event store from the config: kept apart so store-only commands load no more."""

from __future__ import annotations

from tossd.config.model import Config
from tossd.store.store import Store


def open_store(config: Config) -> Store:
    return Store.open(config.store_url, audio_dir=config.state_dir / "audio")
