"""Shared fixtures: the sandbox API on a random loopback port, and clients pointed at it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tossd.api import Client
from tossd.api.envelope import Format
from tossd.sandbox.server import Faults, RunningSandbox, Sandbox, serve
from tossd.sandbox.world import World

API_KEY = "test-key-5f1c0e9a7b"


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def now() -> int:
    return int(time.time())


@pytest.fixture
def make_world(now: int) -> Callable[..., World]:
    def factory(**overrides: Any) -> World:
        options: dict[str, Any] = {"extensions": 4, "activity_every": 3600.0}
        options.update(overrides)
        seed = options.pop("seed", 7)
        return World.generate(seed, now, **options)

    return factory


@pytest.fixture
async def sandbox(make_world: Callable[..., World]) -> AsyncIterator[RunningSandbox]:
    """A quiet sandbox (no live activity during a test unless the test advances it)."""
    async with serve(Sandbox(make_world(), api_key=API_KEY, faults=Faults())) as running:
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
        client = Client.connect(sandbox.url, key, fmt=fmt, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()
