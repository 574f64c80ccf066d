"""The sandbox's spoken voicemails: short clips made once by `scripts/make_clips.py`
(espeak-ng through a phone-line filter), shipped with their reference text, and the word
error rate that the transcript tests and `bench/transcribe.py` score engines by."""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Clip:
    """One committed MP3 and what was said in it ("" for the clip where nobody speaks)."""

    name: str
    path: Path
    seconds: float
    text: str

    def audio(self) -> bytes:
        return self.path.read_bytes()

    @property
    def whole_seconds(self) -> int:
        return max(1, math.ceil(self.seconds))


@functools.cache
def clips() -> tuple[Clip, ...]:
    """Every committed clip, in the order of `clips.json`."""
    folder = Path(str(resources.files("tossd.sandbox") / "clips"))
    index = json.loads((folder / "clips.json").read_text(encoding="utf-8"))
    return tuple(
        Clip(
            entry["file"].removesuffix(".mp3"),
            folder / entry["file"],
            entry["seconds"],
            entry["text"],
        )
        for entry in index
    )


def speaking() -> tuple[Clip, ...]:
    """The clips in which someone speaks (the sandbox's voicemails use these)."""
    return tuple(clip for clip in clips() if clip.text)


def words(text: str) -> list[str]:
    """Lower case, no punctuation, every digit its own word: "020 7946 0134" and "0-2-0 7 9 4
    6 0 1 3 4" score alike, as a reader would take them, and so does "O2O" (an "oh" written
    as a letter beside digits); "Dr." is "doctor"."""
    text = re.sub(r"\bdr\b\.?", "doctor", text.lower())
    text = re.sub(r"(?<=\d)o|o(?=\d)", "0", text)
    text = re.sub(r"(\d)", r" \1 ", text.replace("'", ""))
    return re.findall(r"[a-z]+|\d", text)


def digits(text: str) -> str:
    """The digits a reader takes from `text` (for "is the phone number intact")."""
    return "".join(word for word in words(text) if word.isdigit())


def word_error_rate(reference: str, heard: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    ref, hyp = words(reference), words(heard)
    if not ref:
        return float(len(hyp))
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1] / len(ref)
