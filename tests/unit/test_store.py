"""The store's pure helpers: file names, URLs, payload encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from tossd.domain import EventKind, NewEvent
from tossd.errors import StoreError
from tossd.store.engine import mask_url, sqlite_path
from tossd.store.files import audio_filename
from tossd.store.rows import encode_payload


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [(42, "00000042.mp3"), (1, "00000001.mp3"), (123456789, "123456789.mp3")],
)
def test_audio_filename(event_id: int, expected: str) -> None:
    assert audio_filename(event_id) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://tossd:s3cret@db/tossd", "postgresql://tossd:***@db/tossd"),
        ("sqlite:////var/lib/tossd/tossd.db", "sqlite:////var/lib/tossd/tossd.db"),
        ("not a url at all: s3cret", "<unparseable URL>"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////var/lib/tossd/tossd.db", Path("/var/lib/tossd/tossd.db")),
        ("sqlite:///relative.db", Path("relative.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://db/tossd", None),
    ],
)
def test_sqlite_path(url: str, expected: Path | None) -> None:
    assert sqlite_path(url) == expected


def event(payload: dict[str, object]) -> NewEvent:
    return NewEvent(EventKind.SMS, 1, "sms:1", 0, True, payload)


def test_payload_encoding_is_canonical() -> None:
    first = encode_payload(event({"b": 1, "a": "é"}))
    assert first == encode_payload(event({"a": "é", "b": 1}))
    assert first == '{"a":"é","b":1}'


def test_payload_that_is_not_json_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="sms:1"):
        encode_payload(event({"when": object()}))
