"""What the sandbox knows in advance: the provider's refusal wording, rules and static tables."""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Record = dict[str, Any]
Params = Mapping[str, str]
# Where a number rings: countryid, regionid, ratecenter, city.
Place = tuple[str, str, str, str]

_POOL_PER_CITY = 5


class MethodError(Exception):
    """The provider refused the call; the message is the text it puts in `msgs`."""


def value(params: Params, name: str) -> str:
    """The stripped value of `name`; the page's optional `extension` means `extensionid`."""
    text = (params.get(name) or "").strip()
    if not text and name == "extensionid":
        text = (params.get("extension") or "").strip()
    return text


def need(params: Params, *names: str | tuple[str, ...]) -> None:
    """Check required values in the given order; a tuple is satisfied by any of its names."""
    for name in names:
        group = name if isinstance(name, tuple) else (name,)
        if not any(value(params, n) for n in group):
            raise MethodError(f"Required value {' or '.join(group)} not set or is empty")


def integer(params: Params, name: str, default: int | None = None) -> int:
    text = value(params, name)
    if not text and default is not None:
        return default
    try:
        return int(text)
    except ValueError:
        raise MethodError(f"Invalid value for {name}: {text!r} is not a whole number") from None


def choice(params: Params, name: str, allowed: tuple[str, ...]) -> str:
    text = value(params, name)
    if text and text not in allowed:
        raise MethodError(f"Invalid value for {name}: use one of {', '.join(allowed)}")
    return text


def digits(text: str) -> str:
    # Digits only: a "+" sent unencoded in a form arrives as a space, and must still match.
    return "".join(c for c in text if c in string.digits)


def did_matches(did: str, pattern: str) -> bool:
    """`didmatch` is a leading part of the number, as in the page's example '1718'."""
    return digits(did).startswith(digits(pattern))


def is_active(extension: Record, at: int) -> bool:
    """Started and not yet ended, as the Extension model reads enddate 0 (open-ended)."""
    return bool(extension["startdate"] <= at and not is_ended(extension, at))


def is_ended(extension: Record, at: int) -> bool:
    return bool(extension["enddate"] and extension["enddate"] <= at)


def sms_did(sms: Record) -> str:
    """The account's own number in an SMS: the receiver of inbound texts, the sender of outbound."""
    return str(sms["destination"] if sms["direction"] == "in" else sms["source"])


COUNTRIES: tuple[tuple[str, str, int], ...] = (
    ("CA", "Canada", 1),
    ("DE", "Germany", 49),
    ("GB", "United Kingdom of Great Britain and Northern Ireland", 44),
    ("US", "United States of America", 1),
)

REGIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "CA": (("BC", "British Columbia"), ("ON", "Ontario"), ("QC", "Québec")),
    "DE": (("noRegion", "Germany"),),
    "GB": (("noRegion", "United Kingdom"),),
    "US": (
        ("CA", "California"),
        ("FL", "Florida"),
        ("IL", "Illinois"),
        ("MA", "Massachusetts"),
        ("NY", "New York"),
        ("TX", "Texas"),
        ("WA", "Washington"),
    ),
}

# countryid, regionid, ratecenter, city, prefix, rate_monthly, rate_setup, DID stem.
# Stems lie in ranges reserved for fiction (NANP 555-01XX, Ofcom's drama numbers) so no
# sandbox number can ever ring a real phone; Germany reserves none, so it has no numbers.
CITIES: tuple[tuple[str, str, str, str, str, float, float, str], ...] = (
    ("US", "CA", "LSAN DA 01", "Los Angeles", "213", 1.99, 0.0, "+121355501"),
    ("US", "CA", "SNFC CNTRL", "San Francisco", "415", 1.99, 0.0, "+141555501"),
    ("US", "FL", "MIAMI", "Miami", "305", 1.99, 0.0, "+130555501"),
    ("US", "IL", "CHCG ZN 01", "Chicago", "312", 1.99, 0.0, "+131255501"),
    ("US", "MA", "BOSTON", "Boston", "617", 1.99, 0.0, "+161755501"),
    ("US", "NY", "NWYRCYZN01", "New York", "212", 2.49, 0.0, "+121255501"),
    ("US", "NY", "NWYRCYZN03", "Brooklyn", "718", 1.99, 0.0, "+171855501"),
    ("US", "TX", "AUSTIN", "Austin", "512", 1.99, 0.0, "+151255501"),
    ("US", "WA", "SEATTLE", "Seattle", "206", 1.99, 0.0, "+120655501"),
    ("CA", "BC", "VANCOUVER", "Vancouver", "604", 2.99, 1.0, "+160455501"),
    ("CA", "ON", "TORONTO", "Toronto", "416", 2.99, 1.0, "+141655501"),
    ("CA", "QC", "MONTREAL", "Montréal", "514", 2.99, 1.0, "+151455501"),
    ("GB", "noRegion", "", "London", "20", 4.99, 5.0, "+4420794600"),
    ("GB", "noRegion", "", "Manchester", "161", 4.99, 5.0, "+4416149600"),
    ("DE", "noRegion", "", "Berlin", "30", 6.99, 10.0, ""),
    ("DE", "noRegion", "", "München", "89", 6.99, 10.0, ""),
)

# countryid, regionid, ratecenter, city, prefix, rate_monthly, rate_setup, tftype, DID stem.
TOLL_FREE: tuple[tuple[str, str, str, str, str, float, float, int, str], ...] = (
    ("US", "noRegion", "TOLLFREE", "Toll Free", "800", 4.99, 0.0, 1, "+180055501"),
    ("US", "noRegion", "TOLLFREE", "Toll Free", "888", 4.99, 0.0, 1, "+188855501"),
)

# (callername, callernum): some names are just the number, as carriers send when they
# have no CNAM; non-ASCII and apostrophes are there to exercise rendering downstream.
CALLERS: tuple[tuple[str, str], ...] = (
    ("José Núñez", "+13055550142"),
    ("Zoë Ångström", "+14155550178"),
    ("Renée O'Connor", "+16175550113"),
    ("王芳", "+16465550181"),
    ("Ünal Çelik", "+442079460731"),
    ("Gabriel García", "+15145550147"),
    ("WIRELESS CALLER", "+19175550166"),
    ("+13125550129", "+13125550129"),
    ("+17025550150", "+17025550150"),
    ("Dana Whitfield", "+12025550117"),
    ("Marcus Lee", "+15125550190"),
    ("Priya Raman", "+12065550104"),
    ("SMITH JOHN", "+14165550132"),
    ("ACME PLUMBING", "+13475550161"),
    ("Restricted", "anonymous"),
)

FORWARDS = ("+19175550100", "+16465550123", "+13475550188", "+17185550111", "+12125550199")

ALIASES = (
    "Sales line",
    "Support hotline",
    "Craigslist ad",
    "Café Müller bookings",
    "Dating profile",
    "Conference 2024",
)
RETIRED_ALIAS = "Old campaign (retired)"

SMS_IN = (
    "Is the bike still for sale?",
    "Running 10 min late, sorry!",
    "Can you call me back? 📞",
    "¿Está disponible mañana?",
    "Your order #4412 is ready for pickup.",
    "Thanks — see you at 3pm.",
    "Is the apartment still available?",
    "Ok 👍",
)
SMS_OUT = ("Yes, still available.", "Call me after 5.", "Thanks, got it.", "Sure, 3pm works.")

# Voicemail lengths come from a short list: each distinct length is encoded once per process.
VOICEMAIL_SECONDS = (6, 9, 14, 21, 28, 37)

# The default outgoing clips: their ids are words, as the provider's are.
GREETINGS = (
    ("vmdefault", "Default voicemail greeting", 6),
    ("rtimedefault", "Default do-not-disturb message", 5),
    ("screendefault", "Default call screening prompt", 4),
)

FEATURES: dict[str, tuple[int, dict[str, str]]] = {
    "screen": (0, {"clipid": "screendefault"}),
    "vm": (
        1,
        {"timeout": "24", "promptme": "0", "email": "0", "emailTo": "", "clipid": "vmdefault"},
    ),
    "rtime": (
        0,
        {
            "start": "9",
            "end": "17",
            "tz": "America/New_York",
            "fakering": "10",
            "clipid": "rtimedefault",
            "neverforward": "0",
        },
    ),
    "clid": (1, {"isset": "fwd", "notset": "fwd"}),
    "outdial": (0, {}),
}

_CHOICES = {
    "isset": ("fwd", "line", "block"),
    "notset": ("fwd", "line", "block"),
    "promptme": ("0", "1"),
    "email": ("0", "1"),
    "neverforward": ("0", "1"),
}
_RANGES = {"start": (0, 23), "end": (0, 23), "timeout": (6, 120), "fakering": (0, 120)}


def countries(params: Params) -> list[Record]:
    return [{"countryid": c, "countryname": n, "countrycode": code} for c, n, code in COUNTRIES]


def regions(params: Params) -> list[Record]:
    return [{"regionid": r, "regionname": n} for r, n in REGIONS[_country(params)]]


def cities(params: Params) -> list[Record]:
    need(params, "countryid", "regionid")
    country, region = _country(params), value(params, "regionid").casefold()
    rows = [row for row in CITIES if row[0] == country and row[1].casefold() == region]
    return [_place(row[:7]) for row in rows]


def toll_free(params: Params) -> list[Record]:
    country = value(params, "countryid").upper()
    rows = [row for row in TOLL_FREE if country in ("", row[0])]
    return [_place(row[:7]) | {"tftype": row[7]} for row in rows]


def _country(params: Params) -> str:
    need(params, "countryid")
    countryid = value(params, "countryid").upper()
    if countryid not in REGIONS:
        raise MethodError(f"Invalid value for countryid: {countryid}")
    return countryid


def pool_numbers(rng: random.Random) -> dict[str, Place]:
    """A few numbers in every place that has a fictional range, drawn from `rng`."""
    rows = [(*row[:4], row[7]) for row in CITIES] + [(*row[:4], row[8]) for row in TOLL_FREE]
    return {
        f"{stem}{last:02d}": (country, region, ratecenter, city)
        for country, region, ratecenter, city, stem in rows
        if stem
        for last in sorted(rng.sample(range(100), _POOL_PER_CITY))
    }


def _place(row: tuple[str, str, str, str, str, float, float]) -> Record:
    keys = ("countryid", "regionid", "ratecenter", "city", "prefix", "rate_monthly", "rate_setup")
    return dict(zip(keys, row, strict=True))


def default_features() -> dict[str, Record]:
    return {
        name: {"feature": name, "status": status, "options": dict(options)}
        for name, (status, options) in FEATURES.items()
    }


def option_problem(key: str, value: str) -> str | None:
    """Why `value` is no good for feature option `key`, or None when it is fine."""
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"Invalid value for {key}: use one of {', '.join(_CHOICES[key])}"
    if key in _RANGES:
        low, high = _RANGES[key]
        if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
            return f"Invalid value for {key}: use a whole number from {low} to {high}"
    if key == "tz":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, "America"
            return f"Invalid value for tz: {value} is not an Olson time zone name"
    if key == "emailTo" and "@" not in value:
        return f"Invalid value for emailTo: {value} is not an email address"
    return None
