"""The local engine: faster-whisper in one worker process, so the event loop never waits.

The daemon itself never imports faster-whisper (about 300 MB once a model is loaded): a
spawned worker does, loads the model once, and transcribes one voicemail at a time. A
worker that dies (out of memory, killed) is replaced at the next attempt.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import structlog

from tossd.config.transcribe import TranscribeConfig
from tossd.errors import TranscribeError, TranscribeUnavailable
from tossd.transcribe import weights, worker
from tossd.transcribe.engine import Heard, tidy

log = structlog.get_logger(__name__)


class LocalEngine:
    name = "local"

    def __init__(self, config: TranscribeConfig, *, models_dir: Path) -> None:
        self._config = config
        self._models_dir = models_dir
        self._pool: ProcessPoolExecutor | None = None
        self._model: Path | None = None
        #: The last job handed to the worker (still running while not done).
        self._job: Future[tuple[str, float]] | None = None

    async def transcribe(self, path: Path) -> Heard:
        pool = await self._ready()
        config = self._config
        started = time.monotonic()
        args = (str(path), config.language, config.prompt, config.max_seconds)
        self._job = pool.submit(worker.transcribe, *args)
        try:
            text, seconds = await asyncio.wrap_future(self._job)
        except worker.TooLong as exc:
            raise TranscribeUnavailable(str(exc)) from None
        except worker.WorkerError as exc:
            raise TranscribeError(str(exc)) from None
        except BrokenProcessPool:
            await self.aclose()
            raise TranscribeError("the transcription worker stopped (out of memory?)") from None
        return Heard(tidy(text), time.monotonic() - started, seconds)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Taken first: shutdown forgets them. Python 3.11 has no public way to stop a pool's
        # workers (3.14 adds terminate_workers), hence the private mapping.
        workers = list(dict(getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        if self._job is not None and not self._job.done():
            # Not waiting: a transcription under way would hold up the daemon's stop (SIGTERM
            # must end it within 10 s); its voicemail is transcribed again after the restart.
            # An idle worker is not killed: it may hold its queue's lock, never released then.
            for process in workers:
                process.terminate()
        # Joined (at once: the worker is idle or gone), so the queues' locks are released.
        await asyncio.to_thread(pool.shutdown, wait=True)

    async def _ready(self) -> ProcessPoolExecutor:
        if self._pool is not None:
            return self._pool
        if self._model is None:
            # Joining and hashing 145 MB takes a second: off the event loop.
            self._model = await asyncio.to_thread(self._locate)
            log.info("transcribe.model", path=str(self._model), threads=self._config.threads)
        config = self._config
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            # spawn: a fresh interpreter, not a fork of a process with an event loop and threads.
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker.load,
            initargs=(str(self._model), config.threads, config.compute_type, config.beam_size),
        )
        return self._pool

    def _locate(self) -> Path:
        if self._config.model_dir is not None:
            return weights.own_model(self._config.model_dir)
        return weights.base_model(self._models_dir)
