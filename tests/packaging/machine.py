"""A Debian tree booted by systemd-nspawn, driven from the host through nsenter."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from host import pid_alive, run, wait_until

#: systemd's range for DynamicUser= uids (src/basic/uid-range.h: 61184-65519).
DYNAMIC_UIDS = range(61184, 65520)
_MACHINE_NAME = re.compile(r"^tossdpkg(\d+)-")


class MachineRefused(Exception):
    """This host cannot boot the machine (nothing of tossd's has run yet)."""


class Machine:
    """One booted container: `systemd-nspawn -b` with its own network (loopback only)."""

    def __init__(self, tree: Path, name: str, console: Path) -> None:
        self.tree = tree
        self.name = name
        self.console = console
        self.process: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self, timeout: float = 120) -> str:
        """Boot and wait for systemd to finish starting up; returns its system state."""
        with self.console.open("wb") as console:
            self.process = subprocess.Popen(
                [
                    "systemd-nspawn",
                    f"--directory={self.tree}",
                    "--boot",
                    f"--machine={self.name}",
                    # No systemd on the host to make a scope or register with machined.
                    "--keep-unit",
                    "--register=no",
                    "--private-network",
                    "--console=pipe",
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.leader = wait_until(
            "systemd-nspawn to start systemd in the machine",
            self._find_leader,
            timeout=60,
            diagnose=self.console_text,
        )
        deadline = time.monotonic() + timeout
        while True:
            # "initializing"/"starting" while booting; nothing at all until systemd listens.
            result = self.run("systemctl", "is-system-running", check=False, timeout=30)
            state = result.stdout.strip() or result.stderr.strip()
            if state in {"running", "degraded"}:
                return state
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise MachineRefused(
                    f"the machine did not finish booting within {timeout:g} s (state: {state})\n"
                    + self.diagnose()
                )
            time.sleep(0.5)

    def _find_leader(self) -> int | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise MachineRefused(
                f"systemd-nspawn exited {self.process.returncode}:\n{self.console_text()}"
            )
        for child in _children(self.process.pid):
            comm = Path(f"/proc/{child}/comm")
            if comm.exists() and comm.read_text().strip() == "systemd":
                return child
        return None

    def run(
        self, *args: str, timeout: float = 60, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command inside the machine, in all of its namespaces."""
        return run(
            ["nsenter", f"--target={self.leader}", "--all", *args],
            timeout=timeout,
            check=check,
            input=input,
        )

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        result = self.run(
            "systemctl", "show", unit, *(f"--property={p}" for p in properties), check=False
        )
        return dict(line.partition("=")[::2] for line in result.stdout.splitlines() if line)

    def start_afresh(self, unit: str) -> str:
        """Stop, forget failures, start; returns the journal cursor from just before the start."""
        self.run("systemctl", "stop", unit, check=False)
        self.run("systemctl", "reset-failed", unit, check=False)
        cursor = self.cursor()
        # Type=notify: `systemctl start` returns once READY=1 has come (or the start failed).
        result = self.run("systemctl", "start", unit, timeout=120, check=False)
        if result.returncode != 0:
            pytest.fail(f"systemctl start {unit} failed\n{self.diagnose(unit)}", pytrace=False)
        return cursor

    def cursor(self) -> str:
        """The journal's current end, to read only what a test caused."""
        result = self.run("journalctl", "--lines=0", "--show-cursor", "--quiet", check=False)
        match = re.search(r"-- cursor: (\S+)", result.stdout)
        return match.group(1) if match else ""

    def journal(self, unit: str, after: str = "") -> list[dict[str, Any]]:
        """The unit's journal entries (systemd's about it and its own), as JSON objects."""
        args = ["journalctl", f"--unit={unit}", "--output=json", "--no-pager"]
        if after:
            args.append(f"--after-cursor={after}")
        result = self.run(*args, check=False, timeout=60)
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    def messages(self, unit: str, after: str = "") -> list[str]:
        return [str(entry.get("MESSAGE", "")) for entry in self.journal(unit, after)]

    def console_text(self) -> str:
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        return f"--- machine console\n{text[-4000:]}"

    def diagnose(self, *units: str) -> str:
        """States and journals for a failure message."""
        if not self.leader or not Path(f"/proc/{self.leader}").exists():
            return self.console_text()
        parts = [self.run("systemctl", "--failed", "--no-pager", check=False).stdout]
        for unit in units:
            status = self.run("systemctl", "status", "--no-pager", "--lines=0", unit, check=False)
            journal = self.run(
                "journalctl", f"--unit={unit}", "--lines=80", "--no-pager", check=False
            )
            parts += [f"--- systemctl status {unit}\n{status.stdout}", journal.stdout]
        return "\n".join(parts)

    def shutdown(self, timeout: float = 60) -> None:
        """Halt the machine (SIGTERM to nspawn), then force it; the tree is left in place."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGTERM, 15.0)):
            # nspawn halts the machine on the first SIGTERM and ends it on the second.
            self.process.send_signal(sig)
            try:
                self.process.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
        # Killing a PID namespace's init ends every process in it.
        if self.leader and pid_alive(self.leader):
            os.kill(self.leader, signal.SIGKILL)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(15)


def timespan_s(timespan: str) -> float:
    """A systemd time span as `systemctl show` prints it ("5s", "1min 30s", "500ms")."""
    units = {"min": 60.0, "ms": 0.001, "us": 1e-6, "s": 1.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(min|ms|us|s|h)", timespan)
    assert parts, timespan
    return sum(float(value) * units[unit] for value, unit in parts)


def remove_tree(tree: Path) -> None:
    """Delete a machine's tree, unless something is still mounted inside it."""
    prefix = str(tree.resolve()) + "/"
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix)
    ]
    if mounts:
        pytest.fail(f"not removing {tree}: still mounted inside it: {mounts}", pytrace=False)
    shutil.rmtree(tree, ignore_errors=True)


def sweep_machines(root: Path) -> list[str]:
    """Stop the nspawn machines and delete the trees of earlier runs that died."""
    removed = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"systemd-nspawn"):
            continue
        for arg in argv:
            name = arg.decode(errors="replace").removeprefix("--machine=")
            owner = _MACHINE_NAME.match(name)
            if owner and not pid_alive(int(owner.group(1))):
                for child in _children(int(proc.name)):
                    os.kill(child, signal.SIGKILL)  # the machine's init: its whole namespace
                os.kill(int(proc.name), signal.SIGKILL)
                removed.append(name)
    for tree in root.glob("tossdpkg*"):
        owner = re.match(r"tossdpkg(\d+)", tree.name)
        if owner and not pid_alive(int(owner.group(1))):
            remove_tree(tree)
            removed.append(str(tree))
    return removed


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # the task ended meanwhile
    return children
