"""Phone numbers as people read them: international format and a rough place (pure)."""

from __future__ import annotations

from typing import Any

import phonenumbers
from phonenumbers import geocoder

from tossd.text.untrusted import one_line

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
    """Where a valid number is registered, in English ("New York, NY", "London"); else ""."""
    number = _parsed(raw, region)
    if number is None or not phonenumbers.is_valid_number(number):
        return ""
    return str(geocoder.description_for_number(number, "en"))


def is_dialable(raw: str, region: str = "US") -> bool:
    """Whether `raw` looks like a number one could call back."""
    return _parsed(raw, region) is not None


def _parsed(raw: str, region: str) -> Any:
    """The first valid reading of `raw`, else the first possible one, else None."""
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
