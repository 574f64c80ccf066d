"""Phone numbers as people read them, and where `place_of` finds its index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tossd.text.phone import format_number, is_dialable, place_of, use_places, user_cache_dir

#: Run in a fresh interpreter: place_of after an optional use_places, with logs captured.
_CHILD = """
import json, sys
from pathlib import Path
import structlog.testing
from tossd.text.phone import place_of, use_places

with structlog.testing.capture_logs() as logs:
    ready = use_places(Path(sys.argv[1])) if len(sys.argv) > 1 else None
    places = [place_of("+442083612345"), place_of("2125550134"), place_of("anonymous")]
heavy = ("phonenumbers.geocoder", "phonenumbers.geodata")
print(json.dumps({
    "ready": ready,
    "places": places,
    "logs": [(entry["log_level"], entry["event"]) for entry in logs],
    "loaded": sorted(m for m in sys.modules if m.startswith(heavy)),
}))
"""


#: Run in a fresh interpreter: the memory place_of costs, measured from /proc.
_RSS = """
import json, sys
from pathlib import Path
import phonenumbers, structlog

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

before = rss_kib()
if sys.argv[1] == "geocoder":
    from phonenumbers.geocoder import description_for_number
    places = [description_for_number(phonenumbers.parse(n), "en") for n in sys.argv[3:]]
else:
    from tossd.text.phone import place_of, use_places
    use_places(Path(sys.argv[2]))
    places = [place_of(n) for n in sys.argv[3:]]
heavy = ("phonenumbers.geocoder", "phonenumbers.geodata")
loaded = sorted(m for m in sys.modules if m.startswith(heavy))
print(json.dumps({"before": before, "after": rss_kib(), "places": places, "loaded": loaded}))
"""


def child(env: dict[str, str], *args: str) -> dict[str, Any]:
    """What `_CHILD` saw, run with `env` over this process's environment."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def warnings(seen: dict[str, Any]) -> list[str]:
    """The child's events above info: at most one warning, whatever went wrong."""
    return [event for level, event in seen["logs"] if level not in ("debug", "info")]


@pytest.fixture(scope="module", autouse=True)
def places_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("state")
    assert use_places(directory)
    return directory


@pytest.mark.parametrize(
    ("raw", "region", "display", "place", "dialable"),
    [
        ("+12125550134", "US", "+1 212-555-0134", "New York, NY", True),  # E.164
        ("2125550134", "US", "+1 212-555-0134", "New York, NY", True),  # national, in US
        ("12125550134", "US", "+1 212-555-0134", "New York, NY", True),  # 1 + national
        (" +1 (312) 555-0129 ", "US", "+1 312-555-0129", "Chicago, IL", True),  # punctuated
        ("+12019999999", "US", "+1 201-999-9999", "New Jersey", True),  # only a state known
        ("442079460731", "US", "+44 20 7946 0731", "London", True),  # lost its "+"
        ("02079460731", "GB", "+44 20 7946 0731", "London", True),  # national, in GB
        ("+6561234567", "US", "+65 6123 4567", "Singapore", True),  # country name only
        ("+18002530000", "US", "+1 800-253-0000", "", True),  # toll-free: no place
        ("+12121234567", "US", "+1 212-123-4567", "", True),  # possible, not valid (1xx)
        ("anonymous", "US", "anonymous", "", False),  # a caller ID word
        ("", "US", "", "", False),  # nothing at all
        ("555\r\n<!here>", "US", "555 <!here>", "", False),  # hostile text, one line
    ],
)
def test_numbers(raw: str, region: str, display: str, place: str, dialable: bool) -> None:
    assert format_number(raw, region) == display
    assert place_of(raw, region) == place
    assert is_dialable(raw, region) is dialable


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_CACHE_HOME": "/c", "HOME": "/h"}, Path("/c/tossd")),  # XDG wins
        ({"XDG_CACHE_HOME": "", "HOME": "/h"}, Path("/h/.cache/tossd")),  # empty: ignored
        ({"XDG_CACHE_HOME": "rel", "HOME": "/h"}, Path("/h/.cache/tossd")),  # relative: ignored
        ({"HOME": "/h"}, Path("/h/.cache/tossd")),  # unset
    ],
)
def test_user_cache_dir(env: dict[str, str], expected: Path) -> None:
    assert user_cache_dir(env) == expected


def test_daemon_set_up_never_loads_the_geocoder(places_dir: Path, tmp_path: Path) -> None:
    seen = child({"XDG_CACHE_HOME": str(tmp_path)}, str(places_dir))
    assert seen == {
        "ready": True,
        "places": ["London", "New York, NY", ""],
        "logs": [],  # the index exists: nothing to build, nothing to say
        "loaded": [],
    }
    assert list(tmp_path.iterdir()) == []  # the given directory is used, not the cache


def test_place_of_costs_a_few_mib_where_the_geocoder_costs_a_hundred(places_dir: Path) -> None:
    numbers = ["+16502530000", "+442083612345", "+5491123456789"]
    seen = {}
    for way in ("index", "geocoder"):
        done = subprocess.run(
            [sys.executable, "-c", _RSS, way, str(places_dir), *numbers],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        seen[way] = json.loads(done.stdout)
        cost = seen[way]["after"] - seen[way]["before"]
        print(f"\n{way}: {seen[way]['after']} KiB RSS, {cost} KiB over phonenumbers+structlog")
    assert (
        seen["index"]["places"]
        == seen["geocoder"]["places"]
        == [
            "Mountain View, CA",
            "London",
            "Buenos Aires",
        ]
    )
    assert seen["index"]["loaded"] == []
    assert seen["index"]["after"] - seen["index"]["before"] < 8 * 1024
    assert seen["geocoder"]["after"] - seen["index"]["after"] > 50 * 1024


def test_without_set_up_the_user_cache_is_used(tmp_path: Path) -> None:
    seen = child({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert seen["places"] == ["London", "New York, NY", ""]
    assert seen["loaded"] == []
    assert (tmp_path / "cache" / "tossd" / "places.sqlite3").is_file()


def test_home_cache_without_xdg(tmp_path: Path) -> None:
    seen = child({"XDG_CACHE_HOME": "", "HOME": str(tmp_path)})
    assert seen["places"] == ["London", "New York, NY", ""]
    assert (tmp_path / ".cache" / "tossd" / "places.sqlite3").is_file()


def test_unwritable_directory_means_no_places_and_one_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    seen = child({"XDG_CACHE_HOME": str(tmp_path)}, str(tmp_path / "file" / "state"))
    assert seen["ready"] is False
    assert seen["places"] == ["", "", ""]
    assert warnings(seen) == ["places.unavailable"]


def test_unusable_cache_means_no_places_and_one_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    seen = child({"XDG_CACHE_HOME": str(tmp_path / "file")})
    assert seen["places"] == ["", "", ""]
    assert warnings(seen) == ["places.unavailable"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_means_no_places(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        seen = child({"XDG_CACHE_HOME": str(tmp_path)}, str(tmp_path))
    finally:
        tmp_path.chmod(0o755)
    assert seen["places"] == ["", "", ""]
    assert warnings(seen) == ["places.unavailable"]


def test_import_does_no_work(tmp_path: Path) -> None:
    code = (
        "import sys, tossd.text.phone\n"
        "print(sorted(m for m in sys.modules if m.startswith('phonenumbers.geo')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout == "[]\n"
    assert list(tmp_path.iterdir()) == []  # nothing built or opened
