"""A recording downloaded by one node is attached by another: on a shared (PostgreSQL) store
its bytes live in the database too, and a node without the file copies them into its own
audio folder. A SQLite store keeps only the file, as before."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa

from tossd.domain import EventKind, NewEvent, Stream
from tossd.store.files import audio_filename, write_atomic
from tossd.store.store import Store

NOW = 1_800_000_000
MP3 = b"ID3" + bytes(range(256)) * 40


def blobs(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.exec_driver_sql("SELECT count(*) FROM audio_blobs").scalar_one())
    finally:
        engine.dispose()


def test_a_recording_saved_by_one_node_is_read_by_another(store_url: str, tmp_path: Path) -> None:
    shared = not store_url.startswith("sqlite")
    voicemail = NewEvent(EventKind.VOICEMAIL, 7, "voicemail:7:1", NOW - 60, True, {"vmid": 1})
    with (
        Store.open(store_url, audio_dir=tmp_path / "a-audio") as a,
        Store.open(store_url, audio_dir=tmp_path / "b-audio") as b,
    ):
        (event,) = a.record_batch(7, Stream.VOICEMAIL, [voicemail], 1, NOW).new
        filename = audio_filename(event.id)
        write_atomic(a.audio_dir / filename, MP3)
        digest = hashlib.sha256(MP3).hexdigest()
        a.record_audio(
            event.id, clipid="c1", filename=filename, size=len(MP3), sha256=digest, now=NOW
        )
        assert blobs(store_url) == (1 if shared else 0)

        audio = b.audio_for(event.id)
        assert audio is not None
        assert audio.path == tmp_path / "b-audio" / filename
        assert audio.path.exists() == shared
        if shared:
            assert audio.path.read_bytes() == MP3

        # Retention deletes the bytes with the row.
        a.pruner().audio_batch(NOW, 10, NOW)
        assert blobs(store_url) == 0
