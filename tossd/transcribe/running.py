"""The transcriber beside the daemon, or once in a one-shot run: built from the config."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from tossd.config.model import Config
from tossd.store.store import Store
from tossd.transcribe.transcriber import Transcriber, running


class Counts(Protocol):
    def record_transcription(self, outcome: str) -> None: ...


class Dispatches(Protocol):
    def dispatch(self) -> object: ...


@contextlib.asynccontextmanager
async def transcribing(
    config: Config,
    store: Store,
    metrics: Counts,
    deliverer: Dispatches,
    *,
    may_work: Callable[[], bool] = lambda: True,
) -> AsyncIterator[Transcriber | None]:
    """While the daemon runs: each outcome counted in /metrics, and a delivery pass as soon
    as a transcript is stored (its notification may be waiting for it). Only while
    `may_work` says so: on a shared store, the node that polls transcribes."""
    async with running(
        config.transcribe,
        store,
        models_dir=config.state_dir / "models",
        on_result=metrics.record_transcription,
        on_stored=deliverer.dispatch,
        may_work=may_work,
    ) as transcriber:
        yield transcriber


async def transcribe_due(config: Config, store: Store) -> int:
    """`tossd poll --once`: transcribe what is due now, before the delivery pass."""
    async with running(
        config.transcribe, store, models_dir=config.state_dir / "models", loop=False
    ) as transcriber:
        return 0 if transcriber is None else await transcriber.work()
