"""Phone numbers as people read them: international format and a rough place."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import phonenumbers
import structlog

from tossd.text.places import PlaceIndex, PlaceIndexError
from tossd.text.untrusted import bounded, one_line

log = structlog.get_logger(__name__)

#: Longer than any real number (15 digits and some punctuation); the rest is noise.
_RAW_LEN = 40
#: National numbers are at most 10 digits in the default region (NANP); a longer run of bare
#: digits is more likely an international number that lost its `+`.
_NATIONAL_DIGITS = 10


def format_number(raw: str, region: str = "US") -> str:
    """`+12125550134` -> `+1 212-555-0134`; digits without `+` are read in `region`.

    Anything that is not even a possible number ("anonymous", "Restricted", "") comes back
    as printable single-line text. Possible but unassigned numbers (the fictional 555-01xx
    range in some countries) are still formatted: people recognise the shape.
    """
    number = _parsed(raw, region)
    if number is None:
        return one_line(raw, _RAW_LEN)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def place_of(raw: str, region: str = "US") -> str:
    """Where a valid number is registered, in English ("New York, NY", "London"); else "".

    Read from the place index (`use_places` says where it lives), which answers as the
    library's geocoder does without holding its whole table in memory. Never raises.
    """
    number = _parsed(raw, region)
    if number is None or not phonenumbers.is_valid_number(number):
        return ""
    return _places.describe(number)


def is_dialable(raw: str, region: str = "US") -> bool:
    """Whether `raw` looks like a number one could call back."""
    return _parsed(raw, region) is not None


def use_places(directory: Path | None) -> bool:
    """Make `place_of` read the index in `directory` (None: the user cache), built now if needed.

    Call once at start (the daemon passes its `state_dir`) so the first notification does
    not wait for a build. Returns whether places are available; never raises.
    """
    return _places.use(directory)


def user_cache_dir(env: Mapping[str, str]) -> Path:
    """`$XDG_CACHE_HOME/tossd`, else `~/.cache/tossd`: the index's home when none was set."""
    base = env.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):  # the XDG spec: a relative value is to be ignored
        return Path(base) / "tossd"
    return Path(env.get("HOME") or Path.home()) / ".cache" / "tossd"


class _Places:
    """The process's one index: set by `use_places`, else opened in the user cache on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._directory: Path | None = None
        self._index: PlaceIndex | None = None
        self._failed = False
        self._warned = False

    def use(self, directory: Path | None) -> bool:
        with self._lock:
            self._drop()
            self._directory, self._failed = directory, False
        return self._ready() is not None

    def describe(self, number: phonenumbers.PhoneNumber) -> str:
        index = self._ready()
        if index is None:
            return ""
        try:
            return index.describe(number)
        except PlaceIndexError as exc:
            with self._lock:
                if self._index is index:  # not an index `use` has just replaced
                    self._fail(exc)
            return ""

    def _ready(self) -> PlaceIndex | None:
        with self._lock:
            if self._index is None and not self._failed:
                try:
                    self._index = PlaceIndex.open(self._directory or user_cache_dir(os.environ))
                except (PlaceIndexError, RuntimeError) as exc:  # RuntimeError: no home dir
                    self._fail(exc)
            return self._index

    def _fail(self, exc: Exception) -> None:
        # Places are a nicety: say so once, then stay quiet, and never retry a build per call.
        self._drop()
        self._failed = True
        if not self._warned:
            self._warned = True
            log.warning("places.unavailable", error=str(exc))

    def _drop(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


_places = _Places()


def _parsed(raw: str, region: str) -> Any:
    """The first valid reading of `raw`, else the first possible one, else None."""
    # A real number is short: a megabyte of "digits" is never parsed, nor even stripped.
    return _parsed_short(bounded(raw, _RAW_LEN), region)


@functools.lru_cache(maxsize=256)
def _parsed_short(raw: str, region: str) -> Any:
    """Cached: a notification reads its caller's number three times (shown, place, call
    back), and a digest or a report the same callers again; parsing is most of a render's
    CPU. Callers only read the parsed number, never change it."""
    possible = None
    for candidate in _candidates(raw):
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
        if possible is None and phonenumbers.is_possible_number(number):
            possible = number
    return possible


def _candidates(raw: str) -> list[str]:
    text = raw.strip()
    if text.isascii() and text.isdigit() and len(text) > _NATIONAL_DIGITS:
        return [text, "+" + text]
    return [text] if text else []
