"""The place index answers as `phonenumbers.geocoder` does, small, rebuilt when it must be."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import phonenumbers
import pytest

from tossd.text.places import FILE_NAME, PlaceIndex, PlaceIndexError

#: Run in a child: the real geocoder for each E.164 string read from stdin.
_GEOCODER = """
import json, sys
import phonenumbers
from phonenumbers.geocoder import description_for_number
numbers = json.load(sys.stdin)
print(json.dumps([description_for_number(phonenumbers.parse(n), "en") for n in numbers]))
"""

#: Run in a child: numbers built on prefixes drawn from the geocoder's own table.
_FROM_GEODATA = """
import json, random, sys
import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA
rng = random.Random(int(sys.argv[1]))
numbers = []
for prefix in rng.sample(sorted(GEOCODE_DATA), 400):
    for length in range(len(prefix) + 1, 16):
        tail = "".join(rng.choice("0123456789") for _ in range(length - len(prefix)))
        try:
            number = phonenumbers.parse("+" + prefix + tail)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            numbers.append("+" + prefix + tail)
            break
print(json.dumps(numbers))
"""

#: Each row: an E.164 number and what `description_for_number(number, "en")` says for it.
TABLE = [
    ("+16502530000", "Mountain View, CA"),  # US city: a 7-digit prefix
    ("+12019999999", "New Jersey"),  # US number whose only entry is the state (+1 201)
    ("+14165550123", "Ontario"),  # Canada, sharing +1: a province-level prefix
    ("+442083612345", "London"),  # UK London fixed line
    ("+49891234567", "Munich"),  # Germany: English name, not "München"
    ("+6561234567", "Singapore"),  # no area data at all: the country's name
    ("+33123456789", "France"),  # area data exists for France, not for this prefix
    ("+447400123456", "United Kingdom"),  # a mobile: not geographical, the country's name
    ("+12423570000", "Bahamas"),  # a +1 mobile valid in one region only
    ("+8613800138000", "Beijing"),  # a Chinese mobile: geographical there
    ("+5491123456789", "Buenos Aires"),  # Argentine mobile: the "9" token is dropped first
    ("+541143211234", "Buenos Aires"),  # the same city's fixed line, no token
    ("+18002530000", ""),  # US toll-free: valid in every +1 region, so no one country
    ("+448001234567", ""),  # UK freephone: valid in GB, GG, IM and JE alike
    ("+498001234567", "Germany"),  # German toll-free: one region, so its name
    ("+80012345678", ""),  # international freephone: no place, no country
    ("+1212555", ""),  # invalid (too short): no number type, nothing
    ("+8823421234", ""),  # a mobile on an international network (region 001): no country
]


def geocoded(numbers: list[str]) -> list[str]:
    """The real geocoder's answers, computed in a child so this process never loads it."""
    done = subprocess.run(
        [sys.executable, "-c", _GEOCODER],
        input=json.dumps(numbers),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(done.stdout))


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("places")
    PlaceIndex.open(directory).close()
    return directory


@pytest.fixture
def index(index_dir: Path) -> Iterator[PlaceIndex]:
    with PlaceIndex.open(index_dir) as opened:
        yield opened


@pytest.fixture
def fresh(tmp_path: Path, index_dir: Path) -> Path:
    """A directory holding a copy of a good index, for tests that damage or replace it."""
    (tmp_path / FILE_NAME).write_bytes((index_dir / FILE_NAME).read_bytes())
    return tmp_path


def describe(directory: Path, raw: str) -> str:
    with PlaceIndex.open(directory) as index:
        return index.describe(phonenumbers.parse(raw))


@pytest.mark.parametrize(("raw", "place"), TABLE)
def test_table(index_dir: Path, raw: str, place: str) -> None:
    assert describe(index_dir, raw) == place


def test_table_is_the_geocoders() -> None:
    assert geocoded([raw for raw, _ in TABLE]) == [place for _, place in TABLE]


def random_numbers(rng: random.Random) -> list[str]:
    """Valid numbers of many regions and types: library examples with random tails."""
    kinds = [
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    ]
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            digits = phonenumbers.national_significant_number(example)
            for _ in range(4):
                keep = rng.randint(1, max(1, len(digits) - 2))
                tail = "".join(rng.choice("0123456789") for _ in digits[keep:])
                number = phonenumbers.parse(digits[:keep] + tail, region)
                if phonenumbers.is_valid_number(number):
                    found.append(
                        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                    )
                    break
    return found


def test_random_numbers_match_the_geocoder(index: PlaceIndex) -> None:
    seed = random.randrange(2**32)
    numbers = random_numbers(random.Random(seed))
    assert len(numbers) > 300
    ours = [index.describe(phonenumbers.parse(n)) for n in numbers]
    theirs = geocoded(numbers)
    wrong = [(n, a, b) for n, a, b in zip(numbers, ours, theirs, strict=True) if a != b]
    assert wrong == [], f"seed {seed}"


def test_numbers_on_geodata_prefixes_match_the_geocoder(index: PlaceIndex) -> None:
    seed = random.randrange(2**32)
    done = subprocess.run(
        [sys.executable, "-c", _FROM_GEODATA, str(seed)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    numbers = json.loads(done.stdout)
    assert len(numbers) > 200, f"seed {seed}"
    ours = [index.describe(phonenumbers.parse(n)) for n in numbers]
    wrong = [(n, a, b) for n, a, b in zip(numbers, ours, geocoded(numbers), strict=True) if a != b]
    assert wrong == [], f"seed {seed}"


def test_index_is_rebuilt_for_another_library_version(fresh: Path) -> None:
    path = fresh / FILE_NAME
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'phonenumbers'")
    before = path.stat().st_ino
    assert describe(fresh, "+442083612345") == "London"
    assert path.stat().st_ino != before
    assert meta(path)["phonenumbers"] == phonenumbers.__version__


def test_current_index_is_not_rebuilt(fresh: Path) -> None:
    path = fresh / FILE_NAME
    before = path.stat().st_ino
    assert describe(fresh, "+442083612345") == "London"
    assert path.stat().st_ino == before


def meta(path: Path) -> dict[str, str]:
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",  # emptied
        lambda data: data[:100],  # cut inside the header
        lambda data: data[: len(data) // 2],  # cut in half
        lambda data: b"not a database" * 100,  # some other file
        lambda data: data[:40960] + b"\xff" * 8192 + data[49152:],  # pages scribbled over
    ],
)
def test_damaged_index_is_rebuilt(fresh: Path, damage: Callable[[bytes], bytes]) -> None:
    path = fresh / FILE_NAME
    path.write_bytes(damage(path.read_bytes()))
    assert describe(fresh, "+16502530000") == "Mountain View, CA"
    assert meta(path)["phonenumbers"] == phonenumbers.__version__


def test_concurrent_builds_leave_one_valid_index(tmp_path: Path) -> None:
    script = (
        "import sys, phonenumbers\nfrom pathlib import Path\n"
        "from tossd.text.places import PlaceIndex\n"
        "with PlaceIndex.open(Path(sys.argv[1])) as index:\n"
        "    print(index.describe(phonenumbers.parse('+442083612345')))\n"
    )
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [builder.communicate(timeout=60)[0] for builder in builders]
    assert [builder.returncode for builder in builders] == [0, 0]
    assert [output.splitlines()[-1] for output in outputs] == ["London", "London"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE_NAME]
    before = (tmp_path / FILE_NAME).stat().st_ino
    assert describe(tmp_path, "+6561234567") == "Singapore"
    assert (tmp_path / FILE_NAME).stat().st_ino == before


def test_killed_build_leaves_the_old_index(fresh: Path) -> None:
    path = fresh / FILE_NAME
    builder = subprocess.Popen(
        [sys.executable, "-m", "tossd.text.places", "build", str(path)], stderr=subprocess.DEVNULL
    )
    time.sleep(random.uniform(0.2, 1.0))  # somewhere in loading or writing
    os.kill(builder.pid, signal.SIGKILL)
    builder.wait(timeout=10)
    # The old index or a whole new one: either way valid, so opening it rebuilds nothing.
    # (A temporary file from the killed build may stay behind.)
    survivor = path.stat().st_ino
    assert describe(fresh, "+442083612345") == "London"
    assert path.stat().st_ino == survivor


def test_index_is_read_without_writing_beside_it(fresh: Path) -> None:
    fresh.chmod(0o555)
    try:
        assert describe(fresh, "+442083612345") == "London"
        assert sorted(p.name for p in fresh.iterdir()) == [FILE_NAME]
    finally:
        fresh.chmod(0o755)


def test_directory_that_cannot_be_made_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(PlaceIndexError):
        PlaceIndex.open(tmp_path / "file" / "places")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_is_an_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PlaceIndexError):
            PlaceIndex.open(tmp_path)
    finally:
        tmp_path.chmod(0o755)
