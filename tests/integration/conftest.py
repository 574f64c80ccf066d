"""Fixtures of the integration tier: the database in tmp_path, the sandbox's world, and
notification receivers on loopback (a real SMTP server and JSON webhooks), from `support`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.receivers import Blackhole, JsonReceiver, SmtpServer, serve_json, serve_smtp
from support.store import open_store, sqlite_url

from tossd.sandbox.server import RunningSandbox
from tossd.sandbox.world import World
from tossd.store.store import Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "tossd.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return sqlite_url(db_path)


@pytest.fixture
def store(db_path: Path, tmp_path: Path) -> Iterator[Store]:
    """The store at `db_path`, its recordings in tmp_path/audio."""
    with open_store(db_path, audio_dir=tmp_path / "audio") as opened:
        yield opened


@pytest.fixture
def any_store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    """The store on SQLite, then on PostgreSQL (`store_url`), its recordings in
    tmp_path/audio: for modules whose tests are not SQLite's by nature, as their `store`."""
    with Store.open(store_url, audio_dir=tmp_path / "audio") as opened:
        yield opened


@pytest.fixture
def world(sandbox: RunningSandbox) -> World:
    return sandbox.sandbox.world


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    async with serve_smtp() as server:
        yield server


@pytest.fixture
async def blackhole() -> AsyncIterator[Blackhole]:
    """A TCP server that accepts and never answers; `await blackhole.start()` gives its port."""
    hole = Blackhole()
    yield hole
    await hole.stop()


@pytest.fixture
async def json_receiver() -> AsyncIterator[JsonReceiver]:
    async with serve_json(JsonReceiver()) as receiver:
        yield receiver


@pytest.fixture
async def second_receiver() -> AsyncIterator[JsonReceiver]:
    """Another, independent json receiver (two targets, one failing)."""
    async with serve_json(JsonReceiver()) as receiver:
        yield receiver


@pytest.fixture
def apprise_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What Apprise's own logger emitted at WARNING and above during the test."""
    with caplog.at_level("WARNING", logger="apprise"):
        yield caplog
