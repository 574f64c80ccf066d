"""Leadership in the daemon: one node polls, the others stand by, deliver and serve health.

Every CHECK_S each node looks at the poll duty (`tossd.store.lease`): a standby tries to take
it, the leader renews its lease. The leader trusts itself only for TRUST_S after its last
renewal (its own monotonic clock), which is shorter than the lease the standbys wait out
(LEASE_S on the database's clock): a leader frozen or cut off stops polling before anyone
may take over, and its commits are refused by the term in any case. A new leader waits
TRUST_S before its first poll: the one before it, if still running (its session ended
under it), has stopped trusting itself by then, so two nodes never poll at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import structlog

from tossd.api.client import Client
from tossd.config.model import Config
from tossd.domain import Stream
from tossd.errors import StoreError
from tossd.store.lease import LeaderLock
from tossd.store.store import Store

log = structlog.get_logger(__name__)

#: How often a standby tries for the duty and the leader renews it.
CHECK_S = 0.5
#: The leader polls only this long after its last renewal (less than LEASE_S).
TRUST_S = 2.0
#: Every this many checks (5 s), the node's heartbeat row is written.
BEAT_EVERY = 10

#: The API methods the poller calls: only the leader sends them (reports' still go out).
POLL_METHODS = frozenset(
    {"extensionList", "callRecords", "smsGet", "extensionVoicemailGet", "audioclipGet"}
)
#: No leader has polled for this many intervals of the fastest stream: a self-alert...
SILENT_INTERVALS = 3
#: ... but never sooner: a failover (lease, trust, first poll) takes up to about 7 s.
MIN_SILENT_S = 15.0


class Watcher(Protocol):
    """What the daemon does about leadership (on the event loop): metrics and alerts."""

    def leader_changed(self, node: str, leading: bool) -> None: ...

    def poller_silent(self, silent_s: float | None, limit_s: float) -> None: ...


def node_name(config: Config, env: Mapping[str, str] | None = None) -> str:
    """`[store] node`, else `$TOSSD_NODE`, else the host's name: how `tossd health`, the
    leader metric and the API's User-Agent name this daemon (letters, digits, `.-_:` only:
    it travels in a header and a label)."""
    env = os.environ if env is None else env
    name = config.store.node or env.get("TOSSD_NODE") or socket.gethostname()
    return re.sub(r"[^A-Za-z0-9._:-]", "_", name)[:64] or "node"


class Leadership:
    """This node's standing: `term()` for the poll fence, `leads()` for the poll jobs."""

    def __init__(
        self,
        lock: LeaderLock,
        watcher: Watcher,
        *,
        silent_after_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._lock = lock
        self._watcher = watcher
        self._silent_after_s = silent_after_s
        self._clock = clock
        self._wall = wall
        self._confirmed_at = float("-inf")
        self._leads_from = float("inf")
        self._checks = 0

    @property
    def node(self) -> str:
        return self._lock.node

    def term(self) -> int | None:
        """The term this node leads in, while its last renewal is recent enough to trust."""
        now = self._clock()
        if self._lock.term is None or now - self._confirmed_at > TRUST_S:
            return None
        return self._lock.term if now >= self._leads_from else None

    def leads(self) -> bool:
        return self.term() is not None

    def check(self) -> Look:
        """One look (blocking: run it off the event loop): take, renew or lose the duty."""
        started, look = self._clock(), Look()
        if self._lock.term is None:
            term = self._lock.acquire()
            if term is not None:
                self._confirmed_at = started
                # SQLite: one daemon per file, no predecessor to wait out.
                self._leads_from = started + (TRUST_S if self._lock.shared else 0.0)
                log.info("leader.acquired", node=self.node, term=term)
                look.changed = True
        elif self._lock.confirm():
            self._confirmed_at = started
        else:
            log.warning("leader.lost", node=self.node)
            look.changed = False
        if self._checks % BEAT_EVERY == 0:
            try:
                self._lock.beat(int(self._wall()))
                look.silent_s = self._lock.silence_s()
                look.looked = True
            except StoreError as exc:
                log.warning("node.heartbeat_failed", error=exc.message)
        self._checks += 1
        return look

    def tell(self, look: Look) -> None:
        """On the event loop: the watcher hears of a change and of a silent poller."""
        if look.changed is not None:
            self._watcher.leader_changed(self.node, look.changed)
        if look.looked:
            self._watcher.poller_silent(look.silent_s, self._silent_after_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Check every CHECK_S until `stop`; a check that hangs is waited for, never doubled."""
        while not stop.is_set():
            self.tell(await asyncio.to_thread(self.check))
            try:
                await asyncio.wait_for(stop.wait(), CHECK_S)
            except TimeoutError:
                continue

    def release(self) -> None:
        was = self._lock.term is not None
        self._lock.release()
        if was:
            log.info("leader.released", node=self.node)


@dataclass
class Look:
    """What one check found: a change of standing, how long no leader has polled."""

    changed: bool | None = None
    looked: bool = False
    silent_s: float | None = None


def withhold_polls(api: Client, store: Store) -> None:
    """Poll requests leave only while the store's fence says this node leads (always, until
    `leading` sets the fence): a poller that lost its leadership mid-cycle stops at once."""
    api.withhold_unless(lambda method: method not in POLL_METHODS or store.may_poll())


@asynccontextmanager
async def leading(config: Config, store: Store, watcher: Watcher) -> AsyncIterator[Leadership]:
    """The daemon's leadership from start to stop: its poll commits fenced by the term (and
    so its poll requests withheld, `withhold_polls`). The first check runs at once, so a
    lone node (and every SQLite daemon) polls from the start."""
    lock = LeaderLock(config.store_url, node_name(config), now=time.time())
    intervals = [config.poll.interval_for(Stream(name)) for name in config.poll.streams]
    fastest = min(intervals, default=config.poll.interval_s)
    silent_after_s = max(SILENT_INTERVALS * fastest, MIN_SILENT_S)
    leadership = Leadership(lock, watcher, silent_after_s=silent_after_s)
    store.fenced_by(leadership.term)
    watcher.leader_changed(leadership.node, False)
    leadership.tell(await asyncio.to_thread(leadership.check))
    stop = asyncio.Event()
    task = asyncio.create_task(leadership.run(stop))
    try:
        yield leadership
    finally:
        stop.set()
        await task
        # Let go at once on a clean stop: a standby takes over at its next check.
        await asyncio.to_thread(leadership.release)
