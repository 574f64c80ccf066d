"""Where the daemon keeps the caller-place index: systemd's CacheDirectory=, else state_dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tossd.config.model import Config
from tossd.daemon.resources import use_place_index
from tossd.text.phone import place_of, use_places


@pytest.fixture(autouse=True)
def back_to_the_session_index() -> Iterator[None]:
    """These tests point the process's index elsewhere; later tests get the usual one."""
    yield
    use_places(None)


def config_in(tmp_path: Path) -> Config:
    return Config.model_validate({"state_dir": str(tmp_path / "state")}, context={"env": {}})


def test_the_index_goes_to_the_cache_directory_systemd_gives(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    assert use_place_index(config_in(tmp_path), {"CACHE_DIRECTORY": f"{cache}:{tmp_path}/x"})
    assert [p.name for p in cache.iterdir()] == ["places.sqlite3"]
    assert not (tmp_path / "state").exists()
    assert place_of("+12125550134") == "New York, NY"


def test_without_one_it_goes_to_the_state_directory(tmp_path: Path) -> None:
    assert use_place_index(config_in(tmp_path), {})
    assert (tmp_path / "state" / "places.sqlite3").is_file()
    assert place_of("+442079460000") == "London"
