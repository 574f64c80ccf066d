"""`python -m tossd ARGS` as users run it, in a subprocess: to completion, started, or as a
daemon logging to a file; and probe code run in a fresh interpreter."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any

from .logs import parse_records

#: `run_tossd(*args, timeout=60)`: the exit code, stdout and stderr.
RunTossd = Callable[..., Awaitable[tuple[int, str, str]]]


def tossd_command(*args: str, wrapper: tuple[str, ...] = ()) -> list[str]:
    """`python -m tossd ARGS`; `wrapper` replaces `python` (a command that ends by running it)."""
    return [*(wrapper or (sys.executable,)), "-m", "tossd", *args]


def _environment(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """This process's environment with `env` on top (None: inherit it unchanged)."""
    return None if env is None else {**os.environ, **env}


def run_tossd_sync(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `tossd ARGS` to completion, blocking (for tests without an event loop to serve)."""
    return subprocess.run(
        tossd_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(env),
        cwd=cwd,
    )


async def start_tossd(
    *args: str,
    stdout: int | IO[Any] = DEVNULL,
    stderr: int | IO[Any] = PIPE,
    env: Mapping[str, str] | None = None,
    wrapper: tuple[str, ...] = (),
) -> asyncio.subprocess.Process:
    """Start `tossd ARGS` without waiting for it; stderr is a pipe unless told otherwise."""
    return await asyncio.create_subprocess_exec(
        *tossd_command(*args, wrapper=wrapper), stdout=stdout, stderr=stderr, env=_environment(env)
    )


async def run_tossd(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run `tossd ARGS` to completion without blocking the test's event loop."""
    proc = await start_tossd(*args, stdout=PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def run_python(
    code: str, *args: str, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -c CODE ARGS` in a fresh interpreter: nothing this process imported counts."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


class DaemonProcess:
    """`python -m tossd ARGS`, its JSON log written to a file (a pipe would fill up)."""

    def __init__(self, log_path: Path, *args: str, wrapper: tuple[str, ...] = ()) -> None:
        self.log_path = log_path
        self.args = args
        self.wrapper = wrapper
        self.proc: asyncio.subprocess.Process | None = None
        self._records: list[dict[str, Any]] = []
        self._read_to = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        assert self.proc is not None
        return self.proc.returncode

    async def start(self) -> DaemonProcess:
        # The child keeps its own descriptor of the log; ours closes at once.
        with self.log_path.open("ab") as log:
            self.proc = await start_tossd(*self.args, stderr=log, wrapper=self.wrapper)
        return self

    async def kill(self) -> int:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        return await self.wait(30)

    async def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the process took to end."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.terminate()
        code = await self.wait(timeout)
        return code, time.monotonic() - started

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines so far, parsed once each: the test's loop (which also serves the
        sandbox) must not stall re-reading a long log."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as log:
            log.seek(self._read_to)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._read_to += len(complete)
        self._records += parse_records(complete.decode(errors="replace"))
        return self._records

    def logged(self, event: str) -> bool:
        """Whether a log line so far is `event` (e.g. "daemon.started"), for `wait_until`."""
        return any(record["event"] == event for record in self.records())

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


#: `spawn(log_path, *args, wrapper=())`: a started DaemonProcess, killed at teardown if alive.
Spawn = Callable[..., Awaitable[DaemonProcess]]
