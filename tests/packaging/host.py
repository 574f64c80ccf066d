"""Commands on the host and waits on conditions, each failing with what went wrong."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

#: Where the tier's commands from the dev extra live (the virtualenv is not on $PATH).
VENV_BIN = Path(sys.executable).parent


def run(
    args: Sequence[str | Path],
    *,
    timeout: float = 120,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; with `check`, a non-zero exit fails the test with its output."""
    argv = [str(a) for a in args]
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=None if env is None else {**os.environ, **env},
            input=input,
            cwd=cwd,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        command = " ".join(argv)
        pytest.fail(f"timed out after {timeout:g} s: {command}\n{_output(exc)}", pytrace=False)
    if check and result.returncode != 0:
        command = " ".join(argv)
        pytest.fail(f"exit {result.returncode}: {command}\n{_output(result)}", pytrace=False)
    return result


def _output(result: subprocess.CompletedProcess[str] | subprocess.TimeoutExpired) -> str:
    def text(value: str | bytes | None) -> str:
        return value.decode(errors="replace") if isinstance(value, bytes) else value or ""

    return f"--- stdout\n{text(result.stdout)[-6000:]}\n--- stderr\n{text(result.stderr)[-6000:]}"


def wait_until(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.5,
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Poll `probe` until it returns something truthy; after `timeout` s fail, saying `what`
    was awaited, the last value seen, and what `diagnose` reports (logs, states)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            details = diagnose() if diagnose is not None else ""
            pytest.fail(
                f"timed out after {timeout:g} s waiting for {what} (last: {value!r})\n{details}",
                pytrace=False,
            )
        time.sleep(interval)


def require_tools(*names: str) -> dict[str, str]:
    """The path of each program, from $PATH or the virtualenv; fails naming the missing ones."""
    found = {name: shutil.which(name) or shutil.which(name, path=str(VENV_BIN)) for name in names}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        pytest.fail(
            f"missing {', '.join(missing)}: `make test-packaging` installs them "
            "(tests/packaging/provision.sh for the Debian packages, the dev extra for the rest)",
            pytrace=False,
        )
    return {name: path for name, path in found.items() if path is not None}


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "the packaging tier runs containers and machines: run it as root", pytrace=False
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
