"""Generate the sandbox's spoken voicemail clips once (committed as package data).

Run by hand, never by tests or the daemon: `python scripts/make_clips.py` needs espeak-ng and
sox (`apt-get install espeak-ng sox`) and writes `tossd/sandbox/clips/*.mp3` beside
`clips.json`, the reference text of each clip (what the transcript tests score against).

Each clip sounds like a voicemail left over a phone line: synthetic speech, band-limited to
300-3400 Hz, a little hiss, 8 kHz mono, MP3 at 16 kbit/s (what Tossable Digits serves).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import lameenc

OUT = Path(__file__).resolve().parent.parent / "tossd" / "sandbox" / "clips"
#: (file stem, voice, words spoken, reference text). The reference is what a careful listener
#: would write; numbers spoken digit by digit are written as the digits. The callback number
#: is one Ofcom keeps for drama (0191 498 0000-0999): nobody's real line, and free of the
#: fricative-heavy "five", "six" and "seven", which espeak-ng says too faintly through a
#: phone band for Whisper base to hear ("five" came back as "time" in every voice tried).
#: The voice is espeak-ng's British RP at 140 words a minute with hiss at 0.003: of en-us,
#: en-us+m1, en-us+m3, en-us+f1 and en-gb-x-rp at 120-140 words a minute and hiss 0.003-0.02,
#: the one Whisper base heard best (WER 0.18 against 0.20-0.59 for the others).
CLIPS: tuple[tuple[str, str, str, str], ...] = (
    (
        "appointment",
        "en-gb-x-rp",
        "Hi, this is Maria from Doctor Smith's office. I'm calling to confirm your "
        "appointment on Thursday afternoon. Please call us back. The number is: "
        "oh one nine one. four nine eight. oh one two three. Thank you.",
        "Hi, this is Maria from Doctor Smith's office. I'm calling to confirm your "
        "appointment on Thursday afternoon. Please call us back. The number is 0191 498 0123. "
        "Thank you.",
    ),
    (
        "late",
        "en-gb-x-rp",
        "Hey, it's Tom. I'm running about twenty minutes late. Sorry about that. See you soon.",
        "Hey, it's Tom. I'm running about 20 minutes late. Sorry about that. See you soon.",
    ),
    (
        "delivery",
        "en-gb-x-rp",
        "Hello, this is a message about your package. We tried to deliver it this morning, "
        "but nobody was home.",
        "Hello, this is a message about your package. We tried to deliver it this morning, "
        "but nobody was home.",
    ),
    (
        "bank",
        "en-gb-x-rp",
        "Good afternoon, this is the bank calling about a recent purchase on your card. "
        "Please call us when you get a chance.",
        "Good afternoon, this is the bank calling about a recent purchase on your card. "
        "Please call us when you get a chance.",
    ),
    (
        "birthday",
        "en-gb-x-rp",
        "Hi Mom, just calling to say happy birthday. Give me a call tonight if you are free.",
        "Hi Mom, just calling to say happy birthday. Give me a call tonight if you are free.",
    ),
    # Nobody spoke: line hiss only. A transcript of this must invent nothing.
    ("silence", "", "", ""),
)
RATE = 8000
KBPS = 16
#: Words per minute: a caller leaving a message, a little slower than espeak's default 175.
SPEED = "140"
#: The line's hiss, as an amplitude (0.003 is about -50 dBFS: a quiet line).
HISS = "0.003"


def phone_line(wav_in: Path | None, wav_out: Path, seconds_if_silent: float = 4.0) -> None:
    """Band-limit to the telephone band, resample to 8 kHz mono, pad, add hiss under it."""
    with tempfile.TemporaryDirectory() as tmp:
        hiss = Path(tmp) / "hiss.wav"
        if wav_in is None:
            seconds = seconds_if_silent
            band = None
        else:
            band = Path(tmp) / "band.wav"
            run(
                [
                    "sox",
                    str(wav_in),
                    "-r",
                    str(RATE),
                    "-c",
                    "1",
                    "-b",
                    "16",
                    str(band),
                    "sinc",
                    "300-3400",
                    "pad",
                    "0.5",
                    "1.0",
                    "norm",
                    "-3",
                ]
            )
            seconds = float(subprocess.check_output(["soxi", "-D", str(band)], text=True))
        # -R: the same hiss on every run, so regenerating changes only what was edited.
        run(
            [
                "sox",
                "-R",
                "-n",
                "-r",
                str(RATE),
                "-c",
                "1",
                "-b",
                "16",
                str(hiss),
                "synth",
                f"{seconds:.3f}",
                "whitenoise",
                "vol",
                HISS,
            ]
        )
        if band is None:
            run(["sox", str(hiss), str(wav_out)])
        else:
            run(["sox", "-m", str(band), str(hiss), "-b", "16", str(wav_out)])


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def to_mp3(wav_path: Path) -> bytes:
    with wave.open(str(wav_path), "rb") as wav:
        if wav.getframerate() != RATE or wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise SystemExit(f"{wav_path}: expected 8 kHz mono 16-bit")
        pcm = wav.readframes(wav.getnframes())
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(KBPS)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(1)
    encoder.set_quality(2)
    encoder.silence()
    return bytes(encoder.encode(pcm) + encoder.flush())


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    index = []
    with tempfile.TemporaryDirectory() as tmp:
        for stem, voice, words, reference in CLIPS:
            speech = Path(tmp) / f"{stem}.speech.wav"
            line = Path(tmp) / f"{stem}.wav"
            if words:
                ssml = ["-m"] if words.startswith("<speak>") else []
                speak = ["espeak-ng", "-v", voice, "-s", SPEED, "-g", "4", *ssml]
                run([*speak, "-w", str(speech), words])
                phone_line(speech, line)
            else:
                phone_line(None, line)
            data = to_mp3(line)
            (OUT / f"{stem}.mp3").write_bytes(data)
            with wave.open(str(line), "rb") as wav:
                seconds = wav.getnframes() / RATE
            index.append({"file": f"{stem}.mp3", "seconds": round(seconds, 1), "text": reference})
            print(f"{stem}.mp3: {seconds:.1f} s, {len(data)} bytes")
    (OUT / "clips.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
