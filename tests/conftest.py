"""Shared fixtures: the sandbox API on a random loopback port, clients pointed at it, a config
file writer and the CLI; the helpers behind them live in `support`."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import support.cli
import support.config
import support.postgres
import support.sandbox

from tossd.api.client import Client
from tossd.api.envelope import Format
from tossd.api.options import ApiOptions
from tossd.sandbox.server import Faults, RunningSandbox
from tossd.sandbox.world import World

API_KEY = support.sandbox.API_KEY


def pytest_configure(config: pytest.Config) -> None:
    """One caller-place index for the whole run: every daemon and command the tests start
    (they inherit the environment) reads it from $CACHE_DIRECTORY, as under systemd's
    CacheDirectory=, instead of building its own in each fresh state_dir (1-2 s each); and
    nothing is written to the real ~/.cache."""
    cache = tempfile.mkdtemp(prefix="tossd-tests-cache-")
    os.environ.setdefault("CACHE_DIRECTORY", cache)
    os.environ.setdefault("XDG_CACHE_HOME", cache)


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def now() -> int:
    return int(time.time())


@pytest.fixture
def make_world(now: int) -> Callable[..., World]:
    def factory(**overrides: Any) -> World:
        return support.sandbox.make_world(now, **overrides)

    return factory


@pytest.fixture
async def sandbox(make_world: Callable[..., World]) -> AsyncIterator[RunningSandbox]:
    """A quiet sandbox (no live activity during a test unless the test advances it)."""
    async with support.sandbox.serve_sandbox(
        make_world(), api_key=API_KEY, faults=Faults()
    ) as running:
        yield running


@pytest.fixture
async def make_client(sandbox: RunningSandbox) -> AsyncIterator[Callable[..., Client]]:
    clients: list[Client] = []

    def factory(fmt: Format = "json", **overrides: Any) -> Client:
        options: dict[str, Any] = {
            "timeout_s": 5.0,
            "max_concurrency": 8,
            "max_requests_per_s": 1000.0,
            "retries": 3,
            "backoff_s": 0.001,
        }
        options.update(overrides)
        key = options.pop("key", API_KEY)
        client = Client.connect(ApiOptions(url=sandbox.url, format=fmt, **options), key)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
def write_config(tmp_path: Path, api_key: str) -> Callable[..., Path]:
    """Write a tossd.toml pointing at `url`; keyword sections override (e.g. poll={...}), and
    `routes` become `[[route]]` tables."""

    def factory(
        url: str, *, routes: Iterable[dict[str, Any]] = (), **sections: dict[str, Any]
    ) -> Path:
        api = {"url": url, "key": api_key, "max_requests_per_s": 1000, "backoff_s": 0.01}
        api |= sections.pop("api", {})
        return support.config.write_config_file(
            tmp_path / "tossd.toml",
            state_dir=tmp_path / "state",
            api=api,
            routes=routes,
            **sections,
        )

    return factory


@pytest.fixture
def run_tossd() -> support.cli.RunTossd:
    """Run `python -m tossd ARGS` to completion without blocking the test's event loop."""
    return support.cli.run_tossd


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One throwaway PostgreSQL server for the run (skipped where none can be started)."""
    if (reason := support.postgres.missing()) is not None:
        pytest.skip(reason)
    with support.postgres.serve_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        (tmp_path / "state").mkdir(exist_ok=True)
        return f"sqlite:///{tmp_path / 'state' / 'tossd.db'}"
    server = request.getfixturevalue("postgres_server")
    return support.postgres.fresh_database(server, f"tossd_{uuid.uuid4().hex[:12]}")
