"""`tossd transcribe FILE.mp3`: what the configured engine hears, to try it before trusting it."""

from __future__ import annotations

import argparse

from tossd.cli.startup import load
from tossd.errors import TossdError

#: The transcript is a stranger's words: printed as one line of printable text.
SHOWN_CHARS = 20_000


def cmd_transcribe(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.text.untrusted import one_line
    from tossd.transcribe.engine import Heard, open_engine

    config = load(args)
    if not args.file.is_file():
        raise TossdError(f"{args.file}: no such file")
    engine = open_engine(config.transcribe, models_dir=config.state_dir / "models")

    async def hear() -> Heard:
        try:
            return await engine.transcribe(args.file)
        finally:
            await engine.aclose()

    heard = asyncio.run(hear())
    took = f"{heard.took_s:.2f} s"
    if heard.audio_s:
        rate = heard.took_s / heard.audio_s
        took += f" for {heard.audio_s:.1f} s of audio ({rate:.2f} s per audio second)"
    print(f"engine: {engine.name}; took {took}")
    print(one_line(heard.text, SHOWN_CHARS) if heard.text else "(no speech heard)")
    return 0
