"""The event store: SQLModel tables, engine and PRAGMAs, migrations, files on disk."""

from __future__ import annotations

from tossd.store.migrate import upgrade
from tossd.store.records import AudioFile, BatchResult, ExtensionSync, KnownExtension, PollState
from tossd.store.store import Store

__all__ = [
    "AudioFile",
    "BatchResult",
    "ExtensionSync",
    "KnownExtension",
    "PollState",
    "Store",
    "upgrade",
]
