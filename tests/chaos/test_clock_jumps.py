"""The host clock jumps an hour forwards or backwards while the provider keeps producing: the
poller and the delivery ledger (run in-process with their `clock` parameter) neither repeat
nor lose an event, and nothing waits for the clock to catch up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from chaos_daemon import DAEMON_LOG, every_event_route
from chaos_traffic import (
    Key,
    Receiver,
    expected_keys,
    folded_calls,
    live_extensions,
    record_figures,
)
from support.clock import SkewedClock
from support.config import write_config_file
from support.sandbox import make_world, serve_sandbox
from support.wait import wait_until

from tossd.config.load import load_config
from tossd.config.model import Config
from tossd.daemon.database import open_store
from tossd.daemon.resources import open_client
from tossd.daemon.routes import ready_routes
from tossd.domain import Stream
from tossd.notify.deliver import Deliverer
from tossd.poll.poller import Poller
from tossd.sandbox.world import World
from tossd.store.store import Store

HOUR = 3600
START = 1_760_000_000  # a fixed moment: the sandbox's clock is ours to move
QUIET = 10 * 86400.0  # no live activity: only what a test adds by hand


@dataclass
class Rig:
    world: World
    clocks: SkewedClock
    poller: Poller
    deliverer: Deliverer
    store: Store
    receiver: Receiver

    async def step(self, seconds: float, *, offset: float) -> None:
        """Time passes at the provider; the host clock reads `offset` away; one full cycle."""
        self.clocks.provider += seconds
        self.clocks.offset = offset
        for stream in Stream:
            await self.poller.poll_stream(stream)
        await self.poller.fetch_audio()
        await self.deliverer.drain()
        await wait_until(lambda: self.receiver.in_flight == 0, timeout=30, what="answers")


def config_for(tmp_path: Path, url: str, api_key: str, receiver: Receiver) -> Config:
    path = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": url, "key": api_key, "max_requests_per_s": 1000, "retries": 0},
        poll={"initial_window_s": 86400, "overlap_s": 600},
        delivery={"backoff_s": 1, "max_backoff_s": 4, "max_attempts": 100, "audio_wait_s": 30},
        log=DAEMON_LOG,
        routes=[every_event_route([receiver.url()])],
    )
    return load_config(path, {})


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(receiver: Receiver, tmp_path: Path, api_key: str) -> AsyncIterator[RigFactory]:
    """A sandbox on the provider's clock, and a poller and deliverer on the host's."""
    async with AsyncExitStack() as stack:

        async def factory(*, activity_every: float) -> Rig:
            clocks = SkewedClock(START)
            world = make_world(
                START, seed=3, extensions=3, history_days=0, activity_every=activity_every
            )
            running = await stack.enter_async_context(
                serve_sandbox(world, api_key=api_key, clock=lambda: clocks.provider)
            )
            config = config_for(tmp_path, running.url, api_key, receiver)
            store = stack.enter_context(open_store(config))
            api = await stack.enter_async_context(open_client(config))
            poller = Poller(api, store, config.poll, clock=clocks.host)
            deliverer = Deliverer(
                store, store.ledger(), ready_routes(config), config.delivery, clock=clocks.host
            )
            await poller.sync_extensions()
            return Rig(world, clocks, poller, deliverer, store, receiver)

        yield factory


def outcome(rig: Rig) -> tuple[set[Key], set[Key], int]:
    """(lost, phantom, duplicates) of the receiver against what the world produced."""
    expected, delivered = expected_keys(rig.world), rig.receiver.keys()
    return expected - set(delivered), set(delivered) - expected, delivered.total() - len(delivered)


@pytest.mark.timeout(120)
async def test_clock_jumping_an_hour_either_way_neither_repeats_nor_loses(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(activity_every=1.0)
    # The host clock: right, an hour ahead, right, an hour behind, right; 3 s per cycle.
    plan = [0] * 3 + [HOUR] * 5 + [0] * 3 + [-HOUR] * 5 + [0] * 3 + [HOUR, -HOUR] * 3 + [0]
    for offset in plan:
        await rig.step(3, offset=offset)
    await rig.step(0, offset=0)  # no time passes: nothing new, a last look with the clock right

    lost, phantom, duplicates = outcome(rig)
    expected = expected_keys(rig.world)
    record_figures(
        "clock jumps",
        cycles=len(plan) + 1,
        jumps=sum(1 for a, b in pairwise(plan) if a != b),
        events=len(expected),
        losses=len(lost),
        duplicates=duplicates,
    )
    assert len(expected) >= 40
    assert not lost and not phantom
    assert duplicates == 0
    folded = folded_calls(rig.world)
    assert rig.store.count_events() == len(expected) + len(folded)
    assert rig.store.ledger().counts()["sent"] == len(expected)
    assert rig.store.ledger().counts()["folded"] == len(folded)


@pytest.mark.timeout(60)
async def test_a_call_after_a_quiet_spell_is_found_while_the_clock_is_an_hour_behind(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(activity_every=QUIET)
    ext = live_extensions(rig.world, START)[0]
    rig.world.add_call(extensionid=ext, startdate=int(rig.clocks.provider), callernum="+15550001")
    await rig.step(1, offset=0)
    assert not outcome(rig)[0]

    # Fifteen quiet minutes; meanwhile the host clock is set back an hour. Then a call.
    rig.clocks.provider += 900
    rig.world.add_call(extensionid=ext, startdate=int(rig.clocks.provider), callernum="+15550002")
    for _ in range(5):
        await rig.step(10, offset=-HOUR)
    assert not outcome(rig)[0]


@pytest.mark.timeout(60)
async def test_a_retry_scheduled_before_the_clock_jumped_back_is_not_held_an_hour(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(activity_every=QUIET)
    ext = live_extensions(rig.world, START)[0]
    rig.receiver.fail_rate = 1.0
    rig.world.add_call(extensionid=ext, startdate=int(rig.clocks.provider), callernum="+15550003")
    await rig.step(1, offset=HOUR)  # planned and failed an hour ahead: retry in 1-4 s
    assert rig.receiver.failures == 1

    rig.receiver.fail_rate = 0.0
    for _ in range(6):
        await rig.step(10, offset=0)  # a minute passes with the clock right again
    assert not outcome(rig)[0]
