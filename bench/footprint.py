"""Footprint of tossd, a baseline tree beside this one: idle RSS, idle log volume, CLI CPU.

Run by hand: `.venv/bin/python bench/footprint.py [--idle-s 600] [--settle-s 30]
[--baseline-ref REF | --baseline DIR]`. The baseline defaults to commit aae4f1a (the last one
before the package restructuring), extracted like `git archive REF | tar -x`. Each tree
runs under this interpreter with `PYTHONPATH=<tree>`, so its own `tossd` package is
imported. Both daemons poll one shared sandbox (the baseline's, 10 numbers, no new
activity) at the same time, so the bench takes `--idle-s` seconds; the CLI commands then
run against their stores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import signal
import statistics
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, PIPE, Popen, TimeoutExpired, check_output
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
KEY = "bench-key"
STREAMS = {"calls", "voicemail", "sms"}
SETTLE_S = 30.0
#: A daemon whose idle cycles say nothing at info is marked this long after SETTLE_S.
BY_TIME_GRACE_S = 30.0
RUNS = 5
HOUR = 3600.0
COMMANDS = ("--version", "health", "events --limit 10", "config check")
Row = tuple[str, str, str, str]


@dataclass
class Tree:
    label: str
    root: Path
    work: Path  # cwd of its processes, config and state

    def env(self) -> dict[str, str]:
        # Our TOSSD_*, PYTHON* and systemd variables would change what the children do.
        drop = ("TOSSD_", "NOTIFY_SOCKET", "WATCHDOG_", "CREDENTIALS_DIRECTORY", "PYTHON")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env["PYTHONPATH"] = str(self.root)
        return env

    def tossd(self, args: list[str], out: IO[Any] | int, err: IO[Any] | int) -> Popen[Any]:
        """`python -m tossd ARGS` of this tree (the CLI's entry module moved; -m works)."""
        argv = [sys.executable, "-m", "tossd", *args]
        return Popen(argv, env=self.env(), cwd=self.work, stdout=out, stderr=err)

    def check_origin(self) -> None:
        # The cwd is the tree's work dir, never the repo: `python -m` puts the cwd first on
        # sys.path, and /work/main/tossd would shadow the baseline.
        code = "import tossd; print(tossd.__file__)"
        argv = [sys.executable, "-c", code]
        out = check_output(argv, env=self.env(), cwd=self.work, text=True).strip()
        assert Path(out).resolve().is_relative_to(self.root.resolve()), (self.label, out)


@dataclass
class Mark:
    at: float
    lines: int
    cpu_s: float
    rss_mib: float


@dataclass
class Daemon:
    tree: Tree
    proc: Popen[bytes]
    log: Path
    settled: Mark | None = None
    end: Mark | None = None
    hwm_mib: float = 0.0
    by_time: bool = False  # settled by the clock: not every stream logged a cycle at info

    def sample(self) -> Mark | None:
        if self.proc.poll() is not None:
            return None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        lines = self.log.read_bytes().count(b"\n")
        return Mark(time.monotonic(), lines, cpu, status_mib(self.proc.pid, "VmRSS"))

    def cycled(self) -> bool:
        """Every stream has logged one completed poll cycle."""
        seen = {event.get("stream") for event in self.events() if event["event"] == "poll.cycle"}
        return seen >= STREAMS

    def events(self, start: int = 0, stop: int | None = None) -> list[dict[str, object]]:
        # Up to the last newline: the daemon may be writing a line right now.
        lines = self.log.read_text().rpartition("\n")[0].splitlines()[start:stop]
        return [json.loads(line) for line in lines if line.startswith("{")]

    def figures(self) -> dict[str, float]:
        first, last = self.settled, self.end
        if first is None or last is None:
            return {}
        span, lines = last.at - first.at, last.lines - first.lines
        return {
            "settled": first.rss_mib,
            "end": last.rss_mib,
            "hwm": self.hwm_mib,
            "cpu": (last.cpu_s - first.cpu_s) / span * HOUR,
            "per_hour": lines / span * HOUR,
            "lines": lines,
            "window": span,
        }


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def extract(ref: str, dest: Path) -> str:
    """Extract `ref` into dest; return its short hash and subject."""
    dest.mkdir()
    git = ["git", "-C", str(REPO)]
    commit = check_output([*git, "show", "-s", "--format=%h %s", f"{ref}^{{commit}}"])
    archive = Popen([*git, "archive", commit.split()[0]], stdout=PIPE)
    assert archive.stdout is not None
    with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    assert archive.wait() == 0, "git archive failed"
    return commit.decode().strip()


def start_sandbox(tree: Tree) -> tuple[Popen[bytes], str]:
    args = ["sandbox", "--port", "0", "--api-key", KEY, "--extensions", "10"]
    proc = tree.tossd([*args, "--activity-every", "1e9"], PIPE, DEVNULL)
    assert proc.stdout is not None
    # Its first stdout line, flushed, is "tossd sandbox listening on <url>".
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = os.read(proc.stdout.fileno(), 4096).decode() if ready else ""
    if "listening on http" not in line:
        proc.kill()
        raise SystemExit(f"sandbox did not start: {line!r}")
    return proc, line.split()[-1]


def start_daemon(tree: Tree, url: str) -> Daemon:
    (tree.work / "tossd.toml").write_text(
        f'state_dir = "{tree.work / "state"}"\n'
        f'[api]\nurl = "{url}"\nkey = "{KEY}"\n'
        '[log]\nlevel = "info"\nformat = "json"\n'
        '[[route]]\nname = "bench"\nevents = ["call", "voicemail", "sms"]\n'
        f'notify = ["tossd-file://{tree.work / "notifications"}"]\n'
    )
    log = tree.work / "daemon.err"
    with log.open("wb") as err:
        return Daemon(tree, tree.tossd(["-c", "tossd.toml", "run"], DEVNULL, err), log)


def watch(daemons: list[Daemon], idle_s: float) -> None:
    """Mark each daemon once start-up has settled, and again after idle_s."""
    deadline = time.monotonic() + idle_s
    settle_at = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        for daemon in daemons:
            now = time.monotonic()
            if daemon.settled is None and now >= settle_at:
                daemon.by_time = not daemon.cycled()
                if not daemon.by_time or now >= settle_at + BY_TIME_GRACE_S:
                    daemon.settled = daemon.sample()
        time.sleep(0.5)
    for daemon in daemons:
        daemon.end = daemon.sample()
        daemon.hwm_mib = status_mib(daemon.proc.pid, "VmHWM") if daemon.end else 0.0


def stop(daemons: list[Daemon], notes: list[str]) -> None:
    for daemon in daemons:
        if daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
    for daemon in daemons:
        try:
            code = daemon.proc.wait(timeout=60)
        except TimeoutExpired:
            daemon.proc.kill()
            code = daemon.proc.wait()
        label, tail = daemon.tree.label, daemon.log.read_text().strip().splitlines()[-1:]
        if daemon.end is None:
            notes.append(f"{label}: daemon exited {code} before the end: {tail}")
        elif code != 0:
            notes.append(f"{label}: daemon exit code after SIGTERM: {code}: {tail}")
        if daemon.settled and daemon.by_time:
            notes.append(
                f"{label}: no poll.cycle line for every stream; window from"
                f" {SETTLE_S + BY_TIME_GRACE_S:.0f} s"
            )


def timed(tree: Tree, name: str, notes: list[str]) -> tuple[float, float]:
    """CPU seconds (user + sys) and peak RSS (MiB) of one command, from wait4."""
    args = name.split() if name == "--version" else ["-c", "tossd.toml", *name.split()]
    with (tree.work / "cmd.out").open("wb") as out, (tree.work / "cmd.err").open("wb") as err:
        proc = tree.tossd(args, out, err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        text = (tree.work / "cmd.err").read_text() or (tree.work / "cmd.out").read_text()
        note = f"{tree.label}: `tossd {name}` exit {proc.returncode}: {text.strip()[-300:]}"
        if note not in notes:
            notes.append(note)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def ratio(base: float | None, this: float | None) -> str:
    return f"{this / base:.2f}x" if base and this is not None else "-"


def row(name: str, base: float | None, this: float | None, fmt: str = ".1f") -> Row:
    cells = [f"{v:{fmt}}" if v is not None else "n/a" for v in (base, this)]
    return name, cells[0], cells[1], ratio(base, this)


def table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"  {'figure':<34} {'baseline':>21} {'this tree':>21} {'ratio':>7}")
    for name, base, this, share in rows:
        print(f"  {name:<34} {base:>21} {this:>21} {share:>7}")


def idle_tables(daemons: list[Daemon], idle_s: float) -> None:
    base, this = (daemon.figures() for daemon in daemons)

    def pair(name: str, key: str, fmt: str = ".1f") -> Row:
        return row(name, base.get(key), this.get(key), fmt)

    table(
        f"1. `tossd run`, 10 numbers, {idle_s:.0f} s idle",
        [
            pair("RSS when settled (MiB)", "settled"),
            pair(f"RSS after {idle_s:.0f} s (MiB)", "end"),
            pair("peak RSS, VmHWM (MiB)", "hwm"),
            pair("CPU s per idle hour (extrapolated)", "cpu", ".2f"),
        ],
    )
    table(
        f"2. log lines at info, idle window (from >= {SETTLE_S:.0f} s and every stream polled)",
        [
            pair("lines per idle hour (extrapolated)", "per_hour", ".0f"),
            pair("lines in window (raw)", "lines", ".0f"),
            pair("window (s)", "window"),
        ],
    )
    for daemon in daemons:
        if daemon.settled and daemon.end:
            events = daemon.events(daemon.settled.lines, daemon.end.lines)
            top = Counter(str(e.get("logger")) for e in events).most_common(4)
            text = ", ".join(f"{k} {n}" for k, n in top) or "(no lines)"
            print(f"  {daemon.tree.label} by logger: {text}")


def cpu_table(trees: list[Tree], notes: list[str]) -> None:
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for name in COMMANDS:
        for tree in trees:
            timed(tree, name, notes)  # warm-up: the first run writes __pycache__
        for _ in range(RUNS):  # interleaved, so drift on the machine hits both trees alike
            for tree in trees:
                samples.setdefault((tree.label, name), []).append(timed(tree, name, notes))
    rows: list[Row] = []
    for name in COMMANDS:
        runs = [sorted(cpu for cpu, _ in samples[(tree.label, name)]) for tree in trees]
        cells = [f"{statistics.median(r):.3f} ({r[0]:.3f}-{r[-1]:.3f})" for r in runs]
        medians = [statistics.median(r) for r in runs]
        rows.append((f"tossd {name}", cells[0], cells[1], ratio(medians[0], medians[1])))
    for name in COMMANDS:
        base, this = (max(mib for _, mib in samples[(tree.label, name)]) for tree in trees)
        rows.append(row(f"peak RSS MiB: {name}", base, this))
    table(f"3. CLI CPU s (user+sys), median (min-max) of {RUNS} runs; peak RSS (ru_maxrss)", rows)


def main() -> None:
    global SETTLE_S
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-s", type=float, default=600.0)
    parser.add_argument("--baseline-ref", default="aae4f1a")
    parser.add_argument("--baseline", type=Path, help="an existing source tree instead")
    # The first sweep of every voicemail box ([poll] voicemail_sweep_s, 900 s) stores each
    # box's history as it reaches it, said at info: `--settle-s 960` measures after it.
    parser.add_argument("--settle-s", type=float, default=SETTLE_S)
    args = parser.parse_args()
    SETTLE_S = args.settle_s
    assert args.idle_s > SETTLE_S + 10, f"--idle-s must exceed {SETTLE_S + 10:.0f}"
    with tempfile.TemporaryDirectory(prefix="tossd-footprint-") as name:
        tmp = Path(name)
        if args.baseline:
            base_root, base_text = args.baseline.resolve(), f"{args.baseline.resolve()} (dir)"
        else:
            base_root = tmp / "baseline-src"
            base_text = f"{args.baseline_ref} = {extract(args.baseline_ref, base_root)}"
        trees = [
            Tree("baseline", base_root, tmp / "baseline"),
            Tree("this tree", REPO, tmp / "this"),
        ]
        for tree in trees:
            tree.work.mkdir()
            tree.check_origin()
        print(f"machine: nproc {len(os.sched_getaffinity(0))}, {platform.platform()}")
        print(f"python {platform.python_version()} ({sys.executable})")
        head = check_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], text=True)
        print(f"baseline: {base_text}")
        print(f"this tree: {REPO} (the working tree, on HEAD {head.strip()})")
        notes: list[str] = []
        sandbox, url = start_sandbox(trees[0])
        daemons: list[Daemon] = []
        try:
            daemons += [start_daemon(tree, url) for tree in trees]
            watch(daemons, args.idle_s)
        finally:  # SIGTERM on every path, an error or ^C included
            stop(daemons, notes)
            sandbox.terminate()
            sandbox.wait(timeout=10)
        idle_tables(daemons, args.idle_s)
        cpu_table(trees, notes)
        for note in notes:
            print(f"note: {note}")


if __name__ == "__main__":
    main()
