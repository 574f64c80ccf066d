"""A hung mail target beside a json:// receiver under `tossd run`: polls, latency, threads, RSS.

Run by hand: `.venv/bin/python bench/isolation.py [--minutes 5] [--interval 1]`. Four daemons
run at once, side by side on the same machine (so they share its noise), each with its own
sandbox world, json receiver and mail peer: {one route with both targets, two routes} x {a real
SMTP server, a blackhole that accepts and never answers}. A call is added to every world each
`--every` seconds; its event-to-notification latency is the time from adding it to the json
receiver getting it. At the end the blackholes are replaced by real SMTP servers on the same
address, `tossd outbox retry --all` brings back what died, and every mail must arrive once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.policy import default
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tossd.sandbox.server import Sandbox, serve
from tossd.sandbox.world import World

KEY = "bench-key"
#: A hung mail send is given up after this long (the daemon's [delivery] timeout_s).
SEND_DEADLINE_S = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Blackhole:
    """Accepts connections and holds them open without a byte."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted = 0
        self._held: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", self.port)

    async def _hold(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._held.append(writer)

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for writer in self._held:
            writer.close()
        await server.wait_closed()


class Mailbox:
    """aiosmtpd handler (its own thread): keeps each mail's subject (its body is encoded)."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        mail = email.message_from_bytes(envelope.original_content or b"", policy=default)
        self.bodies.append(str(mail["subject"]))
        return "250 OK"


@dataclass
class Receiver:
    """A json:// endpoint: each post's arrival time and message."""

    posts: list[tuple[float, str]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            payload = await request.json()
            # The caller is named in the title ("Missed call from ..."), not again in the body.
            said = f"{payload.get('title', '')}\n{payload.get('message', '')}"
            self.posts.append((time.time(), said))
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def proc_status(pid: int) -> tuple[int, float]:
    """(threads, RSS in MiB) of a live process, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(map(toml, value)) + "]"


def caller_of(n: int) -> str:
    return f"+1206555{n:04d}"


def shown(n: int) -> str:
    """How a notification names the caller (not the number called, also +1 206-555-...)."""
    return f"from +1 206-555-{n:04d}"


@dataclass
class Scenario:
    layout: str  # "one route" or "two routes"
    hung: bool
    root: Path
    interval_s: float
    world: World = field(init=False)
    receiver: Receiver = field(default_factory=Receiver)
    mail_port: int = field(default_factory=free_port)
    blackhole: Blackhole | None = None
    smtp: Controller | None = None
    mailbox: Mailbox = field(default_factory=Mailbox)
    proc: asyncio.subprocess.Process | None = None
    added: dict[int, float] = field(default_factory=dict)
    samples: list[tuple[float, int, float]] = field(default_factory=list)
    extension: int = 0

    def __post_init__(self) -> None:
        now = int(time.time())
        self.world = World.generate(3, now, extensions=1, history_days=0, activity_every=1e9)
        self.extension = next(iter(self.world.extensions))

    @property
    def name(self) -> str:
        return f"{self.layout}, {'blackhole' if self.hung else 'real SMTP'}"

    @property
    def db(self) -> Path:
        return self.root / "state" / "tossd.db"

    @property
    def log_path(self) -> Path:
        return self.root / "run.log"

    def config(self, api_url: str) -> Path:
        mail = (
            f"mailto://127.0.0.1:{self.mail_port}"
            "?from=tossd@example.com&to=you@example.com&mode=insecure"
        )
        hook = f"json://127.0.0.1:{self.receiver.port}/hook"
        routes = (
            [("all", [mail, hook])]
            if self.layout == "one route"
            else [("mail", [mail]), ("hook", [hook])]
        )
        lines = [
            f"state_dir = {toml(str(self.root / 'state'))}",
            "[api]",
            f"url = {toml(api_url)}",
            f"key = {toml(KEY)}",
            "max_requests_per_s = 1000.0",
            "[poll]",
            f"interval_s = {self.interval_s!r}",
            "jitter_s = 0.0",
            'streams = ["calls"]',
            "[delivery]",
            f"interval_s = {self.interval_s!r}",
            f"timeout_s = {SEND_DEADLINE_S!r}",
            "backoff_s = 2.0",
            "max_backoff_s = 30.0",
            # One message per call (no burst digest of the recovered backlog): copies are
            # counted per call.
            "max_per_cycle = 1000000",
            "[log]",
            'level = "debug"',
            'format = "json"',
        ]
        for name, urls in routes:
            lines += ["[[route]]", f"name = {toml(name)}", 'events = ["call"]']
            lines.append(f"notify = {toml(urls)}")
        path = self.root / "tossd.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    async def start(self, api_url: str) -> None:
        self.root.mkdir()
        await self.receiver.start()
        await self.start_mail_peer()
        config = self.config(api_url)
        with self.log_path.open("ab") as log:
            self.proc = await tossd("run", "-c", str(config), stderr=log)

    async def stop(self) -> None:
        """SIGTERM to the daemon; a failed exit shows its log's tail."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        if code != 0:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            print(f"{self.name}: tossd run exited {code}:\n{tail}")

    async def start_mail_peer(self) -> None:
        if self.hung:
            self.blackhole = Blackhole(self.mail_port)
            await self.blackhole.start()
        else:
            await self.start_smtp()

    async def start_smtp(self) -> None:
        self.smtp = Controller(self.mailbox, hostname="127.0.0.1", port=self.mail_port)
        await asyncio.to_thread(self.smtp.start)

    async def stop_peers(self) -> None:
        if self.blackhole is not None:
            await self.blackhole.stop()
        if self.smtp is not None:
            await asyncio.to_thread(self.smtp.stop)
        await self.receiver.stop()

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def mail_states(self) -> Counter[str]:
        route = "all" if self.layout == "one route" else "mail"
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT state, count(*) FROM deliveries WHERE route = ? AND target = ?"
                " GROUP BY state",
                (route, "notify[0]"),
            ).fetchall()
        return Counter({state: count for state, count in rows})


async def tossd(*args: str, **kwargs: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "tossd", *args, **kwargs)


async def sample(scenarios: list[Scenario], every_s: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        for s in scenarios:
            if s.proc is not None and s.proc.returncode is None:
                with contextlib.suppress(OSError, KeyError):
                    s.samples.append((time.time(), *proc_status(s.proc.pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def add_calls(scenarios: list[Scenario], every_s: float, until: float) -> None:
    """A call to every world at once, at random gaps averaging `every_s`: its time relative
    to each daemon's poll phase is random, so latencies compare across daemons."""
    n, draw = 0, random.Random(11)
    while time.time() < until:
        n += 1
        for s in scenarios:
            now = int(time.time())
            s.world.add_call(
                extensionid=s.extension, startdate=now, callernum=caller_of(n), seconds=0
            )
            s.added[n] = time.time()
        await asyncio.sleep(every_s * (0.5 + draw.random()))


def latencies(s: Scenario) -> tuple[list[float], Counter[int]]:
    """Each added call's latency to the json receiver, and how many copies each got."""
    copies: Counter[int] = Counter()
    first: dict[int, float] = {}
    for at, message in s.receiver.posts:
        for n in s.added:
            if shown(n) in message:
                copies[n] += 1
                first.setdefault(n, at)
    return [first[n] - s.added[n] for n in s.added if n in first], copies


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def poll_timing(s: Scenario, interval_s: float) -> tuple[int, int, int, float]:
    """(poll cycles, ticks skipped, late/missed job lines, the longest gap between two
    cycles' ends in s). A skipped tick shows as a gap of two intervals or more."""
    records = s.records()
    ends = [
        datetime.fromisoformat(r["timestamp"]).timestamp()
        for r in records
        if r.get("event") == "poll.cycle"
    ]
    troubled = sum(
        1
        for r in records
        if r.get("event") in ("job.missed", "job.late")
        or "maximum number of running instances" in str(r.get("event", ""))
    )
    gaps = [b - a for a, b in itertools.pairwise(ends)]
    skipped = sum(round(gap / interval_s) - 1 for gap in gaps if gap >= 1.5 * interval_s)
    return len(ends), skipped, troubled, max(gaps, default=0.0)


async def recover(s: Scenario, timeout_s: float) -> tuple[Counter[str], Counter[int], float]:
    """Replace the blackhole by a real SMTP server on its address, `outbox retry --all`, and
    wait until every mail row is sent: (states before, copies per call, seconds taken)."""
    before = s.mail_states()
    assert s.blackhole is not None
    await s.blackhole.stop()
    await s.start_smtp()
    started = time.time()
    retry = await tossd(
        "outbox", "retry", "--all", "-c", str(s.root / "tossd.toml"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await retry.wait()
    while time.time() - started < timeout_s:
        states = s.mail_states()
        if set(states) == {"sent"} and states["sent"] >= len(s.added):
            break
        await asyncio.sleep(0.5)
    took = time.time() - started
    await asyncio.sleep(2)  # anything sent twice would arrive now
    copies: Counter[int] = Counter()
    for body in s.mailbox.bodies:
        copies.update(n for n in s.added if shown(n) in body)
    return before, copies, took


def report(scenarios: list[Scenario], minutes: float, interval_s: float) -> None:
    print(f"\n{minutes:g} min of `tossd run` each, poll and delivery interval {interval_s:g} s")
    print(
        f"{'':26} {'polls':>6} {'skip':>5} {'late':>5} {'max gap':>8} {'calls':>6} {'json p50':>9}"
        f" {'p99':>6} {'dup':>4} {'threads':>14} {'RSS MiB':>20}"
    )
    p50s: dict[tuple[str, bool], tuple[float, float]] = {}
    for s in scenarios:
        polls, skipped, late, gap = poll_timing(s, interval_s)
        lat, copies = latencies(s)
        dup = sum(c - 1 for c in copies.values() if c > 1)
        p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
        p50s[(s.layout, s.hung)] = (p50, p99)
        steady = [x for x in s.samples if x[0] >= s.samples[0][0] + 60] or s.samples
        threads = f"{steady[0][1]}/{steady[-1][1]}/{max(x[1] for x in steady)}"
        rss = f"{steady[0][2]:.1f}/{steady[-1][2]:.1f}/{max(x[2] for x in steady):.1f}"
        print(
            f"{s.name:26} {polls:6} {skipped:5} {late:5} {gap:7.3f}s {len(lat):6} {p50:8.3f}s"
            f" {p99:5.3f}s {dup:4} {threads:>14} {rss:>20}"
        )
    print("  polls: poll cycles run; skip: ticks with no cycle (a gap of 2+ intervals); late:")
    print("  job.late, job.missed or skipped-run lines; max gap: the longest between two cycles;")
    print("  threads and RSS: a minute into the calls / at the end / the most after that minute")
    for s in scenarios:
        marks = [m for m in (1, 5, 10, 15, 20, 25, 30, 45, 60) if m <= minutes] + [minutes]
        by_minute = []
        for mark in dict.fromkeys(marks):
            at = s.samples[0][0] + mark * 60
            _, threads, rss = min(s.samples, key=lambda x: abs(x[0] - at))
            by_minute.append(f"{mark:g} min {threads} thr {rss:.1f} MiB")
        print(f"  {s.name}: " + ", ".join(by_minute))
    for layout in ("one route", "two routes"):
        if (layout, True) in p50s and (layout, False) in p50s:
            (h50, h99), (b50, b99) = p50s[(layout, True)], p50s[(layout, False)]
            gap = f"p50 {h50 - b50:+.3f} s, p99 {h99 - b99:+.3f} s"
            print(f"{layout}: the blackhole's run minus the real SMTP server's: {gap}")


async def run(
    minutes: float, interval_s: float, every_s: float, layouts: list[str], keep: Path | None
) -> None:
    with contextlib.ExitStack() as dirs:
        tmp = str(keep) if keep else dirs.enter_context(tempfile.TemporaryDirectory())
        scenarios = [
            Scenario(layout, hung, Path(tmp) / f"{layout[:3]}-{int(hung)}", interval_s)
            for layout in layouts
            for hung in (False, True)
        ]
        async with contextlib.AsyncExitStack() as stack:
            for s in scenarios:
                stack.push_async_callback(s.stop_peers)
                running = await stack.enter_async_context(serve(Sandbox(s.world, api_key=KEY)))
                await s.start(running.url)
                stack.push_async_callback(s.stop)
            await measure(scenarios, minutes, interval_s, every_s)


async def measure(
    scenarios: list[Scenario], minutes: float, interval_s: float, every_s: float
) -> None:
    for s in scenarios:  # each daemon started (Apprise loaded, place index built), polling
        while not any(r.get("event") == "poll.cycle" for r in s.records()):
            await asyncio.sleep(0.5)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(scenarios, 5.0, stop))
    await add_calls(scenarios, every_s, time.time() + minutes * 60)
    await asyncio.sleep(3 * interval_s + 2)  # the last call's notification
    stop.set()
    await sampler
    report(scenarios, minutes, interval_s)
    for s in scenarios:  # kept beside the logs (with --keep), to check a figure by hand
        posts = [{"at": at, "message": message} for at, message in s.receiver.posts]
        added = {str(n): at for n, at in s.added.items()}
        (s.root / "json.json").write_text(json.dumps({"added": added, "posts": posts}))
    for s in scenarios:
        if s.hung:
            before, copies, took = await recover(s, timeout_s=900)
            held = s.blackhole.accepted if s.blackhole else 0
            missing = sum(1 for n in s.added if copies[n] == 0)
            dup = sum(c - 1 for c in copies.values() if c > 1)
            print(
                f"{s.name}: blackhole took {held} connections; mail rows at the end"
                f" {dict(before)}; after the real SMTP server replaced it:"
                f" {sum(copies.values())} mails for {len(s.added)} calls in {took:.0f} s,"
                f" {missing} missing, {dup} duplicates"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=1.0, help="poll and delivery, s")
    parser.add_argument("--every", type=float, default=2.0, help="a new call every N s")
    parser.add_argument(
        "--layouts", nargs="+", default=["one route", "two routes"],
        choices=["one route", "two routes"],
    )  # fmt: skip
    parser.add_argument("--keep", type=Path, help="state dirs and logs here, kept")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(run(args.minutes, args.interval, args.every, args.layouts, args.keep))
