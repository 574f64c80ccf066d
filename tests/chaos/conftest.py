"""Fixtures of the chaos suites: a lively sandbox that can be frozen, a controllable receiver,
and the figures every suite measured, printed at the end of the run."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from chaos_traffic import (
    FIGURES,
    RECEIVER_MAX_BODY,
    CountingFaults,
    LivelyFactory,
    Receiver,
)
from support.cli import DaemonProcess, Spawn
from support.clock import FreezableClock
from support.receivers import serve_json
from support.sandbox import make_world, serve_sandbox

from tossd.sandbox.server import RunningSandbox
from tossd.sandbox.world import World


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures (chaos)")
    for suite, figures in FIGURES.items():
        terminalreporter.write_line(
            f"{suite}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
        )


@pytest.fixture
async def lively(api_key: str) -> AsyncIterator[LivelyFactory]:
    """Start sandboxes whose account has no history and gets live activity every second.

    With no history, every record the world holds is one the daemon must announce.
    """
    async with AsyncExitStack() as stack:

        async def factory(
            *, seed: int = 11, extensions: int = 3, activity_every: float = 1.0, **faults: Any
        ) -> tuple[RunningSandbox, World, FreezableClock, CountingFaults]:
            world = make_world(
                int(time.time()),
                seed=seed,
                extensions=extensions,
                history_days=0,
                activity_every=activity_every,
                page_size=500,
            )
            clock = FreezableClock()
            counting = CountingFaults(seed=seed, **faults)
            running = await stack.enter_async_context(
                serve_sandbox(world, api_key=api_key, faults=counting, clock=clock)
            )
            return running, world, clock, counting

        yield factory


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serve_json(Receiver(seed=5), max_body=RECEIVER_MAX_BODY) as running:
        yield running


@pytest.fixture
def tmpfs() -> Iterator[Callable[..., Path]]:
    """Mount small tmpfs file systems (skips where mounting is not allowed: needs root)."""
    mounted: list[Path] = []

    def mount(path: Path, size: str, *options: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        spec = ",".join((f"size={size}", "mode=0700", *options))
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", spec, "tossd-chaos", str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            pytest.skip("cannot mount a tmpfs here: no mount command")
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@pytest.fixture
async def spawn() -> AsyncIterator[Spawn]:
    """Start `python -m tossd ARGS`; whatever a failed test left running is killed after it."""
    started: list[DaemonProcess] = []

    async def factory(log_path: Path, *args: str, wrapper: tuple[str, ...] = ()) -> DaemonProcess:
        daemon = await DaemonProcess(log_path, *args, wrapper=wrapper).start()
        started.append(daemon)
        return daemon

    yield factory
    for daemon in started:
        if daemon.returncode is None:
            await daemon.kill()
