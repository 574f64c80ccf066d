"""The daemon's transcriber: voicemails whose audio is here become text in the store.

One voicemail at a time, oldest first. Each failure is logged once, with the voicemail and
the engine, counted, and retried on the one `RetryPolicy` until `attempts` run out; a
notification never waits for this beyond `[transcribe] wait_s` (see `tossd.notify.transcript`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog

from tossd.config.transcribe import TranscribeConfig
from tossd.domain import StoredEvent
from tossd.errors import TossdError, TranscribeError
from tossd.retry import RetryPolicy
from tossd.store.store import Store
from tossd.transcribe.engine import Engine, open_engine

log = structlog.get_logger(__name__)

#: How often the store is asked for voicemails to transcribe (an indexed, tiny query).
LOOK_EVERY_S = 1.0


def retry_policy(config: TranscribeConfig) -> RetryPolicy:
    """A few quick retries: a transcript that is late is worth less every minute."""
    return RetryPolicy(base_s=5.0, max_s=60.0, max_attempts=config.attempts, jitter=0.5)


class Transcriber:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        config: TranscribeConfig,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        on_result: Callable[[str], None] = lambda outcome: None,
        on_stored: Callable[[], object] = lambda: None,
        may_work: Callable[[], bool] = lambda: True,
    ) -> None:
        self._store, self._engine, self._config = store, engine, config
        self._clock, self._rand = clock, rand
        self._retry = retry_policy(config)
        self._on_result, self._on_stored = on_result, on_stored
        #: Whether this process transcribes now: on a shared store, only the node that polls.
        self._may_work = may_work

    async def run(self) -> None:
        """Until cancelled: transcribe what is due, then look again shortly."""
        while True:
            try:
                if self._may_work():
                    await self.work()
            except TossdError as exc:  # the store failing: said, and tried again
                log.warning("transcribe.store_failed", error=exc.message)
            # The one catch-all of this loop: a bug is logged with its traceback, and the
            # transcriber keeps running (the notifications never wait beyond wait_s anyway).
            except Exception:
                log.exception("transcribe.crashed")
            await asyncio.sleep(LOOK_EVERY_S)

    async def work(self) -> int:
        """Transcribe every voicemail due now; returns how many got a transcript."""
        done = 0
        for event in self._store.voicemails_to_transcribe(now=int(self._clock())):
            done += await self.one(event)
        return done

    async def one(self, event: StoredEvent) -> int:
        name = self._engine.name
        audio = self._store.audio_for(event.id)
        if audio is None:
            return 0
        length = _int(event.payload.get("length"))
        if length > self._config.max_seconds:
            reason = f"the recording is {length} s long, over {self._config.max_seconds} s"
            now = int(self._clock())
            self._store.record_transcript_skipped(event.id, reason, engine=name, now=now)
            log.info("transcribe.skipped", event_id=event.id, engine=name, reason=reason)
            self._on_result("skipped")
            return 0
        try:
            heard = await self._engine.transcribe(audio.path)
        except TranscribeError as exc:
            self._failed(event, exc)
            return 0
        took_ms = round(heard.took_s * 1000)
        self._store.record_transcript(
            event.id, heard.text, engine=name, took_ms=took_ms, now=int(self._clock())
        )
        log.info("transcribe.done", event_id=event.id, engine=name, took_ms=took_ms)
        self._on_result("ok")
        self._on_stored()
        return 1

    def _failed(self, event: StoredEvent, exc: TranscribeError) -> None:
        now = int(self._clock())
        known = self._store.transcript_for(event.id)
        failures = (known.attempts if known else 0) + 1
        retry_at = (
            self._retry.next_attempt(failures=failures, created_at=now, now=now, rand=self._rand())
            if exc.transient
            else None
        )
        name = self._engine.name
        attempts = self._store.record_transcript_failure(
            event.id, exc.message, engine=name, retry_at=retry_at, now=now
        )
        log.warning(
            "transcribe.failed",
            event_id=event.id,
            engine=name,
            error=exc.message,
            attempts=attempts,
            retry_in_s=None if retry_at is None else retry_at - now,
            gives_up=retry_at is None,
        )
        self._on_result("failed")
        # A notification waiting for this transcript can now say why there is none.
        if retry_at is None:
            self._on_stored()


@contextlib.asynccontextmanager
async def running(
    config: TranscribeConfig,
    store: Store,
    *,
    models_dir: Path,
    clock: Callable[[], float] = time.time,
    on_result: Callable[[str], None] = lambda outcome: None,
    on_stored: Callable[[], object] = lambda: None,
    loop: bool = True,
    may_work: Callable[[], bool] = lambda: True,
) -> AsyncIterator[Transcriber | None]:
    """The transcriber while the block lasts, its engine closed after (None when off);
    with `loop`, it also runs by itself, looking for work every `LOOK_EVERY_S` while
    `may_work` says so."""
    if not config.enabled:
        yield None
        return
    engine = open_engine(config, models_dir=models_dir)
    transcriber = Transcriber(
        store,
        engine,
        config,
        clock=clock,
        on_result=on_result,
        on_stored=on_stored,
        may_work=may_work,
    )
    task = asyncio.create_task(transcriber.run(), name="transcriber") if loop else None
    if task is not None:
        log.info("transcribe.started", engine=engine.name, wait_s=config.wait_s)
    try:
        yield transcriber
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await engine.aclose()


def _int(value: object) -> int:
    text = str(value or "0").strip()
    return int(text) if text.isascii() and text.isdigit() else 0
