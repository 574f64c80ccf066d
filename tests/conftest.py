"""Shared fixtures: the sandbox API on a random loopback port, and clients pointed at it."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tossd.api.client import Client
from tossd.api.envelope import Format
from tossd.api.options import ApiOptions
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
        client = Client.connect(ApiOptions(url=sandbox.url, format=fmt, **options), key)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
def write_config(tmp_path: Path, api_key: str) -> Callable[..., Path]:
    """Write a tossd.toml pointing at `url`; keyword sections override (e.g. poll={...})."""

    def factory(url: str, **sections: dict[str, Any]) -> Path:
        lines = [f'state_dir = "{tmp_path / "state"}"', "[api]", f'url = "{url}"']
        lines += [f'key = "{api_key}"', "max_requests_per_s = 1000", "backoff_s = 0.01"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in sections.pop("api", {}).items()]
        for name, values in sections.items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        path = tmp_path / "tossd.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    return factory


async def _run_tossd(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tossd", *args, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def run_tossd() -> Callable[..., Awaitable[tuple[int, str, str]]]:
    """Run `python -m tossd ARGS` to completion without blocking the test's event loop."""
    return _run_tossd
