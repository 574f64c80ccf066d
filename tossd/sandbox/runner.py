"""`tossd sandbox`: run the imitation API in the foreground until a signal arrives."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from tossd.daemon.signals import stop_on_signals
from tossd.sandbox.quirks import Quirks
from tossd.sandbox.server import Faults, Sandbox, serve
from tossd.sandbox.world import World

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 8089
    api_key: str = "sandbox"
    seed: int = 1
    activity_every: float = 5.0
    extensions: int = 4
    faults: Faults | None = None
    quirks: Quirks | None = None
    #: Requests per second the provider takes; more get `status:false` (None: no limit).
    rate_limit: float | None = None


def build_sandbox(options: SandboxOptions, now: float | None = None) -> Sandbox:
    start = time.time() if now is None else now
    world = World.generate(
        options.seed,
        int(start),
        extensions=options.extensions,
        activity_every=options.activity_every,
    )
    if options.quirks is not None:
        world.quirks = options.quirks
    return Sandbox(
        world, api_key=options.api_key, faults=options.faults, rate_limit=options.rate_limit
    )


async def run_sandbox(options: SandboxOptions) -> None:
    stop = stop_on_signals()
    async with serve(build_sandbox(options), host=options.host, port=options.port) as running:
        log.info("sandbox.listening", url=running.url, seed=options.seed)
        print(f"tossd sandbox listening on {running.url}", flush=True)
        await stop.wait()
    log.info("sandbox.stopped")
