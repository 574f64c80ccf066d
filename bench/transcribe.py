"""Transcription figures: the local engine on the committed clips, the openai engine's
overhead against a fake server, each beside its baseline in the same run.

Run by hand: `.venv/bin/python bench/transcribe.py [--threads 1] [--repeat 1]`. Needs the
transcribe extra for the local engine (`pip install -e '.[transcribe]'`).

- local: model load time, CPU seconds per audio second (the worker's own CPU time, so other
  load on the machine does not count), wall seconds, the worker's peak RSS, and the WER over
  the clips; the goal is a 60 s voicemail transcribed within `wait_s` (30 s) on one core.
- openai: the engine's round trip (reading the MP3, the multipart form, the JSON answer)
  beside a bare aiohttp POST of the same bytes to the same fake server (the baseline).
- footprint: the RSS of a Python that imports what the daemon imports with the engine off,
  beside one that also imports the openai engine (the local engine adds a process instead).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def row(name: str, value: str, baseline: str = "") -> None:
    print(f"  {name:<38} {value:>14}  {baseline}")


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident set (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def local(threads: int, repeat: int) -> None:
    import psutil

    from tossd.config.transcribe import TranscribeConfig
    from tossd.sandbox.voices import clips, word_error_rate, words
    from tossd.transcribe.local import LocalEngine

    config = TranscribeConfig.model_validate(
        {"engine": "local", "language": "en", "threads": threads}, context={"env": {}}
    )
    models = REPO / ".bench-models"
    engine = LocalEngine(config, models_dir=models)
    print(f"local engine: faster-whisper base int8 beam 5, {threads} thread(s)")
    started = time.monotonic()
    first = clips()[-1]  # the shortest: mostly the load
    await engine.transcribe(first.path)
    load_s = time.monotonic() - started
    # The pool's worker; multiprocessing's resource tracker is a child too.
    (worker,) = [
        child
        for child in psutil.Process().children()
        if "resource_tracker" not in " ".join(child.cmdline())
    ]
    cpu0 = sum(worker.cpu_times()[:2])
    audio = wall = 0.0
    errors = total = 0.0
    for _ in range(repeat):
        for clip in clips():
            heard = await engine.transcribe(clip.path)
            audio += heard.audio_s or clip.seconds
            wall += heard.took_s
            if clip.text:
                n = len(words(clip.text))
                errors += word_error_rate(clip.text, heard.text) * n
                total += n
    cpu = sum(worker.cpu_times()[:2]) - cpu0
    # A minute-long voicemail: the spoken clips back to back (MP3 frames concatenate).
    long_mp3 = models / "minute.mp3"
    long_mp3.write_bytes(b"".join(clip.audio() for clip in clips() if clip.text))
    cpu_before = sum(worker.cpu_times()[:2])
    minute = await engine.transcribe(long_mp3)
    minute_cpu = sum(worker.cpu_times()[:2]) - cpu_before
    rss = peak_rss_mib(worker.pid)
    await engine.aclose()
    row("first transcript (spawn + load + 4 s)", f"{load_s:.2f} s")
    row(
        "CPU seconds per audio second",
        f"{cpu / audio:.3f}",
        f"(a 60 s voicemail: {60 * cpu / audio:.1f} CPU s)",
    )
    row("wall seconds per audio second", f"{wall / audio:.3f}", f"({audio:.0f} s of audio)")
    row(
        f"a {minute.audio_s or 0:.0f} s voicemail, wall",
        f"{minute.took_s:.1f} s",
        f"({minute_cpu:.1f} CPU s; wait_s default 30)",
    )
    row("worker peak RSS", f"{rss:.0f} MiB")
    row("WER over the spoken clips", f"{errors / total:.3f}", "(goal <= 0.30)")


async def openai_overhead(rounds: int = 50) -> None:
    import aiohttp
    from support.whisper import FakeWhisper, serve_whisper

    from tossd.config.transcribe import TranscribeConfig
    from tossd.sandbox.voices import clips
    from tossd.transcribe.openai import OpenAIEngine

    clip = clips()[0]
    async with serve_whisper(FakeWhisper()) as server:
        config = TranscribeConfig.model_validate(
            {"engine": "openai", "base_url": server.base_url}, context={"env": {}}
        )
        engine = OpenAIEngine(config)
        engine_s, bare_s = [], []
        async with aiohttp.ClientSession() as session:
            for _ in range(rounds):
                started = time.perf_counter()
                await engine.transcribe(clip.path)
                engine_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                form = aiohttp.FormData()
                form.add_field("file", clip.audio(), filename="a.mp3", content_type="audio/mpeg")
                form.add_field("model", "whisper-1")
                async with session.post(f"{server.base_url}/audio/transcriptions", data=form) as r:
                    await r.json()
                bare_s.append(time.perf_counter() - started)
        await engine.aclose()
    print(f"openai engine against the fake server ({rounds} rounds, {len(clip.audio())} B MP3)")
    row(
        "engine round trip (median)",
        f"{statistics.median(engine_s) * 1000:.2f} ms",
        f"bare aiohttp POST: {statistics.median(bare_s) * 1000:.2f} ms",
    )


def footprint(baseline_ref: str) -> None:
    """What the daemon imports, here and in the tree before transcripts (`baseline_ref`)."""
    code = "import resource, {mods}; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    base = "tossd.daemon.lifecycle"

    def rss(mods: str, tree: Path) -> float:
        env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
        command = [sys.executable, "-c", code.format(mods=mods)]
        return int(subprocess.check_output(command, text=True, env=env, cwd=tree)) / 1024

    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", baseline_ref], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        before = statistics.median(rss(base, Path(tmp)) for _ in range(3))
    off = statistics.median(rss(base, REPO) for _ in range(3))
    with_openai = statistics.median(rss(base + ", tossd.transcribe.openai", REPO) for _ in range(3))
    print("daemon imports (max RSS of a Python that imports them, median of 3)")
    row(f"before transcripts ({baseline_ref})", f"{before:.1f} MiB")
    row("engine off", f"{off:.1f} MiB", f"({off - before:+.1f} MiB)")
    row("engine openai", f"{with_openai:.1f} MiB", f"({with_openai - before:+.1f} MiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    # The commit this work started from: the daemon before transcripts.
    parser.add_argument("--baseline-ref", default="2e01908")
    args = parser.parse_args()
    footprint(args.baseline_ref)
    asyncio.run(openai_overhead())
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        print("local engine: skipped (pip install -e '.[transcribe]')")
        return 0
    asyncio.run(local(args.threads, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
