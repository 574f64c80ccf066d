"""The transcriber over a real store (SQLite and PostgreSQL) and the openai engine against
the fake server: what is due, retries on the one RetryPolicy, give-ups, skips, and the
transcript stored whether or not a notification still waits for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support.clock import ManualClock
from support.whisper import FakeWhisper, serve_whisper

from tossd.config.transcribe import TranscribeConfig
from tossd.domain import EventKind, NewEvent, StoredEvent, Stream, TranscriptState
from tossd.sandbox.voices import clips
from tossd.store.store import Store
from tossd.transcribe.openai import OpenAIEngine
from tossd.transcribe.transcriber import Transcriber

NOW = 1_800_000_000
EXT = 7


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


@pytest.fixture
async def whisper() -> AsyncIterator[FakeWhisper]:
    async with serve_whisper(FakeWhisper(text="Call me back.")) as server:
        yield server


@pytest.fixture
async def engine(whisper: FakeWhisper) -> AsyncIterator[OpenAIEngine]:
    engine = OpenAIEngine(config_for(whisper))
    yield engine
    await engine.aclose()


def config_for(server: FakeWhisper) -> TranscribeConfig:
    return TranscribeConfig.model_validate(
        {"engine": "openai", "base_url": server.base_url, "attempts": 3}, context={"env": {}}
    )


def voicemail(store: Store, vmid: int, *, length: int = 9, audio: bool = True) -> StoredEvent:
    """A voicemail as a poll stores it, and its recording as the audio fetcher saves it."""
    event = NewEvent(
        EventKind.VOICEMAIL, EXT, f"vm:{EXT}:{vmid}", NOW + vmid, True,
        {"vmid": vmid, "callerid": "+13125550199", "length": length, "clipid": str(vmid)},
    )  # fmt: skip
    (stored,) = store.record_batch(EXT, Stream.VOICEMAIL, [event], NOW + vmid, NOW).new
    if audio:
        clip = clips()[0]
        name = f"{stored.id:08d}.mp3"
        (store.audio_dir / name).write_bytes(clip.audio())
        size = len(clip.audio())
        store.record_audio(
            stored.id, clipid=str(vmid), filename=name, size=size, sha256="0", now=NOW
        )
    return stored


def transcriber(
    store: Store,
    engine: OpenAIEngine,
    server: FakeWhisper,
    clock: ManualClock,
    outcomes: list[str],
    stored: list[int],
) -> Transcriber:
    return Transcriber(
        store,
        engine,
        config_for(server),
        clock=clock,
        rand=lambda: 0.0,
        on_result=outcomes.append,
        on_stored=lambda: stored.append(1),
    )


async def test_a_failure_is_retried_when_due_and_then_stored(
    store: Store, whisper: FakeWhisper, engine: OpenAIEngine
) -> None:
    clock, outcomes, stored = ManualClock(NOW), [], []
    event = voicemail(store, 1)
    voicemail(store, 2, audio=False)  # no audio yet: nothing to transcribe
    work = transcriber(store, engine, whisper, clock, outcomes, stored)
    whisper.status = 500
    assert await work.work() == 0
    found = store.transcript_for(event.id)
    assert found is not None and found.state is TranscriptState.RETRYING
    assert found.attempts == 1 and "HTTP 500" in (found.error or "")
    # The first retry waits half of 5 s at least (jitter 0.5): not due yet, then due.
    assert store.voicemails_to_transcribe(now=NOW + 1) == []
    whisper.status = 200
    clock.now = NOW + 6
    assert [e.id for e in store.voicemails_to_transcribe(now=NOW + 6)] == [event.id]
    assert await work.work() == 1
    done = store.transcripts_for([event.id])[event.id]
    assert (done.state, done.text, done.attempts, done.engine) == (
        TranscriptState.DONE, "Call me back.", 1, "openai",
    )  # fmt: skip
    assert outcomes == ["failed", "ok"] and stored == [1]
    assert store.voicemails_to_transcribe(now=NOW + 3600) == []
    assert len(whisper.uploads) == 2


async def test_attempts_run_out_and_a_refused_key_is_not_retried(
    store: Store, whisper: FakeWhisper, engine: OpenAIEngine
) -> None:
    clock, outcomes, stored = ManualClock(NOW), [], []
    work = transcriber(store, engine, whisper, clock, outcomes, stored)
    event = voicemail(store, 1)
    whisper.status = 502
    for step in range(3):
        clock.now = NOW + 1000 * step
        await work.work()
    found = store.transcript_for(event.id)
    assert found is not None and (found.state, found.attempts) == (TranscriptState.FAILED, 3)
    refused = voicemail(store, 2)
    whisper.status = 401
    await work.work()
    gave_up = store.transcript_for(refused.id)
    assert gave_up is not None and (gave_up.state, gave_up.attempts) == (TranscriptState.FAILED, 1)
    assert outcomes == ["failed"] * 4 and stored == [1, 1]  # each give-up wakes the notifier
    assert store.voicemails_to_transcribe(now=NOW + 10**6) == []


async def test_a_recording_over_max_seconds_is_skipped_and_never_sent(
    store: Store, whisper: FakeWhisper, engine: OpenAIEngine
) -> None:
    clock, outcomes, stored = ManualClock(NOW), [], []
    event = voicemail(store, 1, length=301)
    await transcriber(store, engine, whisper, clock, outcomes, stored).work()
    found = store.transcript_for(event.id)
    assert found is not None and found.state is TranscriptState.SKIPPED
    assert found.error == "the recording is 301 s long, over 300 s"
    assert outcomes == ["skipped"] and whisper.uploads == []
