"""The English place index: where a number is registered, without the geocoder's 100 MB table."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import Final

import phonenumbers
import structlog

from tossd.errors import TossdError

log = structlog.get_logger(__name__)

#: The index's name inside the directory the caller gives (the daemon's `state_dir`).
FILE_NAME: Final = "places.sqlite3"
#: Bumped when the tables change, so an index from an older tossd is rebuilt too.
FORMAT: Final = "1"
#: Loading the geocoder and writing ~290k rows takes a few seconds; a hung child must not
#: hang the caller for ever.
_BUILD_TIMEOUT_S: Final = 300
#: Scope of the rows read when the library resolves a name with no region (every number but
#: mobile-token ones); other scopes are region codes and hold only the rows that differ.
_ANY: Final = ""
#: The library's "no single region" code.
_NO_REGION: Final = "ZZ"

_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE area (
    scope TEXT NOT NULL, prefix TEXT NOT NULL, name TEXT, PRIMARY KEY (scope, prefix)
) WITHOUT ROWID;
CREATE TABLE country (region TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
"""


class PlaceIndexError(TossdError):
    """The place index could not be built or read."""


class PlaceIndex:
    """An open, read-only index answering `description_for_number(number, "en")` lookups.

    Only the pages a lookup touches are read (SQLite's page cache is capped below), so the
    process holds a few hundred KiB instead of the geocoder's whole table.
    """

    def __init__(self, db: sqlite3.Connection, longest_prefix: int) -> None:
        self._db = db
        self._longest = longest_prefix
        # The daemon looks places up from worker threads; one connection, used one at a time.
        self._lock = threading.Lock()

    @classmethod
    def open(cls, directory: Path) -> PlaceIndex:
        """The index in `directory`, built first when missing, stale or damaged."""
        path = Path(directory).absolute() / FILE_NAME
        try:
            return cls._connect(path)
        except PlaceIndexError as exc:
            log.info("places.building", path=str(path), reason=exc.message)
        build_index(path)
        return cls._connect(path)

    @classmethod
    def _connect(cls, path: Path) -> PlaceIndex:
        if not path.is_file():
            raise PlaceIndexError(f"no place index at {path}")
        try:
            # immutable: the file is never changed in place, only replaced whole (os.replace),
            # so SQLite needs no locks and no -shm/-journal files, and a read-only disk works.
            db = sqlite3.connect(
                path.as_uri() + "?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise PlaceIndexError(f"cannot open the place index at {path}: {exc}") from exc
        try:
            return cls(db, _checked_longest_prefix(db, path))
        except BaseException:
            db.close()
            raise

    def describe(self, number: phonenumbers.PhoneNumber) -> str:
        """What `phonenumbers.geocoder.description_for_number(number, "en")` returns.

        The same steps as the library: no type -> ""; a non-geographical type (toll-free,
        most mobiles) -> the country's name; else the longest known prefix of the E.164
        digits, falling back to the country's name.
        """
        kind = phonenumbers.number_type(number)
        if kind == phonenumbers.PhoneNumberType.UNKNOWN:
            return ""
        if not phonenumbers.is_number_type_geographical(kind, number.country_code or 0):
            return self._country_name(number)
        return self._area(number) or self._country_name(number)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> PlaceIndex:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _area(self, number: phonenumbers.PhoneNumber) -> str:
        code = number.country_code or 0
        token = phonenumbers.country_mobile_token(code)
        national = phonenumbers.national_significant_number(number)
        if not token or not national.startswith(token):
            return self._longest_prefix_name(number, _ANY)
        # Argentina's mobile "9" precedes the area code; the library drops it, re-reads the
        # rest in the country's region and resolves names for that region.
        region = phonenumbers.region_code_for_country_code(code)
        try:
            bare = phonenumbers.parse(national[len(token) :], region)
        except phonenumbers.NumberParseException:
            bare = number
        return self._longest_prefix_name(bare, region)

    def _longest_prefix_name(self, number: phonenumbers.PhoneNumber, scope: str) -> str:
        digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        candidates = sorted({digits[:n] for n in range(1, self._longest + 1)}, key=len)
        marks = ",".join("?" * len(candidates))
        rows = self._rows(
            f"SELECT prefix, scope, name FROM area WHERE scope IN (?, ?) AND prefix IN ({marks})",
            (_ANY, scope, *candidates),
        )
        found = {(prefix, row_scope): name for prefix, row_scope, name in rows}
        for prefix in reversed(candidates):
            # A scoped row overrides the plain one, and its NULL means "no name for this
            # region here": the library then tries the next shorter prefix.
            name = found.get((prefix, scope), found.get((prefix, _ANY)))
            if name is not None:
                return str(name)
        return ""

    def _country_name(self, number: phonenumbers.PhoneNumber) -> str:
        regions = phonenumbers.region_codes_for_country_code(number.country_code or 0)
        if len(regions) == 1:
            return self._region_name(regions[0])
        valid_in = _NO_REGION
        for region in regions:
            if phonenumbers.is_valid_number_for_region(number, region):
                if valid_in != _NO_REGION:
                    return ""  # valid in several regions of a shared code: no one country
                valid_in = region
        return self._region_name(valid_in)

    def _region_name(self, region: str) -> str:
        rows = self._rows("SELECT name FROM country WHERE region = ?", (region,))
        return str(rows[0][0]) if rows else ""

    def _rows(self, sql: str, args: tuple[str, ...]) -> list[tuple[str, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise PlaceIndexError(f"cannot read the place index: {exc}") from exc


def _checked_longest_prefix(db: sqlite3.Connection, path: Path) -> int:
    """The index's longest prefix, once it is known to be whole and built for this library."""
    try:
        # Lookups touch a handful of pages; the default 2 MB cache would be held for life.
        db.execute("PRAGMA cache_size = -256")
        # A truncated or scribbled-on file still opens; reading every page once (~0.1 s, at
        # open only) finds the damage now, so it is rebuilt instead of failing lookups later.
        problems = db.execute("PRAGMA quick_check").fetchall()
        if problems != [("ok",)]:
            raise PlaceIndexError(f"the place index at {path} is damaged: {problems[0][0]}")
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise PlaceIndexError(f"the place index at {path} is unreadable: {exc}") from exc
    wanted = {"format": FORMAT, "phonenumbers": phonenumbers.__version__}
    if any(meta.get(key) != value for key, value in wanted.items()):
        raise PlaceIndexError(f"the place index at {path} is for {meta}, not {wanted}")
    return int(meta["longest_prefix"])


def build_index(path: Path) -> None:
    """Write the index at `path` in a child interpreter, so the geocoder's table dies with it."""
    command = [sys.executable, "-m", "tossd.text.places", "build", str(path)]
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S
        )
    except subprocess.CalledProcessError as exc:
        why = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit status {exc.returncode}"]
        raise PlaceIndexError(f"cannot build the place index at {path}: {why[0]}") from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise PlaceIndexError(f"cannot build the place index at {path}: {exc}") from exc


def write_index(path: Path) -> None:
    """Build the index from the installed geocoder data; only ever run in a child process.

    Written to a temporary file beside `path` and moved over it, so a reader (or a second
    builder, or a kill -9) sees the old index or the new one, never half of one.
    """
    from phonenumbers.geodata import GEOCODE_DATA, GEOCODE_LONGEST_PREFIX
    from phonenumbers.geodata.locale import LOCALE_DATA

    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with closing(sqlite3.connect(temp)) as db:
            # A half-written temporary file is thrown away, so no journal is needed, and one
            # fsync below replaces SQLite's many.
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.executescript(_SCHEMA)
            db.executemany("INSERT INTO area VALUES (?, ?, ?)", sorted(_area_rows(GEOCODE_DATA)))
            db.executemany("INSERT INTO country VALUES (?, ?)", _country_rows(LOCALE_DATA))
            meta = {"format": FORMAT, "phonenumbers": phonenumbers.__version__}
            meta["longest_prefix"] = str(GEOCODE_LONGEST_PREFIX)
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            db.commit()
        _fsync(temp, os.O_RDONLY)
        os.replace(temp, path)
        _fsync(str(path.parent), os.O_RDONLY | os.O_DIRECTORY)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _area_rows(data: Mapping[str, Mapping[str, str]]) -> Iterator[tuple[str, str, str | None]]:
    """(scope, prefix, name) rows: each prefix's English name, as the library resolves it."""
    for prefix, names in data.items():
        name = _english(names, None)
        if name is not None:
            yield _ANY, prefix, name
    # Mobile-token numbers are resolved with their country's region; keep only what differs.
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        if phonenumbers.country_mobile_token(code):
            region = phonenumbers.region_code_for_country_code(code)
            for prefix, names in data.items():
                name = _english(names, region)
                if name != _english(names, None):
                    yield region, prefix, name


def _english(names: Mapping[str, str], region: str | None) -> str | None:
    """What the library's `prefix._find_lang(names, "en", None, region)` picks.

    It tries "en_<region>", then "en"; the other steps (script, zh_* aliases, the fallback
    to English) can never pick anything else for English with no script.
    """
    if region is not None and f"en_{region}" in names:
        return names[f"en_{region}"]
    return names.get("en")


def _country_rows(locales: Mapping[str, Mapping[str, str]]) -> Iterator[tuple[str, str]]:
    """(region, English name) rows, as the geocoder's `_region_display_name` reads them."""
    for region, names in locales.items():
        name = names.get("en", "")
        if name.startswith("*"):  # "*aa": the name is the one held under language "aa"
            name = names.get(name[1:], "")
        yield region, name


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """`python -m tossd.text.places build PATH`: the child side of `build_index`."""
    if len(argv) != 2 or argv[0] != "build":
        print("usage: python -m tossd.text.places build PATH", file=sys.stderr)
        return 2
    write_index(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
