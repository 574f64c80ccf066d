"""Hostile configuration: arbitrary text and bytes, and valid files with keys set to anything
TOML can spell. The loader answers with a Config or a ConfigError, never another exception,
and neither an error nor `tossd config check` ever shows a secret."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from support.config import is_table_array, toml_document

from tossd.config.load import load_config
from tossd.config.model import Config
from tossd.config.render import render_effective
from tossd.config.routes import RouteConfig
from tossd.daemon.routes import ready_routes
from tossd.errors import ConfigError

API_SECRET = "Sekr1t-Api-Key-7e2f"
ROUTE_SECRET = "RoutePass-9c1d"
SECRETS = (API_SECRET, ROUTE_SECRET)
HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DELETE = object()

#: Top-level keys and every section's keys, read from the models (new keys join by themselves).
SECTIONS: dict[str, list[str]] = {
    name: list(field.annotation.model_fields)
    for name, field in Config.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}
SECTIONS["route"] = list(RouteConfig.model_fields)
TOP_LEVEL = [name for name in Config.model_fields if name not in SECTIONS]

PLAUSIBLE = [
    "", " ", "~", "~/x", "/", "0", "-1", "1e3", "nan", "relative/dir",
    "json://127.0.0.1/", "json://u:other@h/", "tossd-file:///tmp/tossd-x", "mailto://", "x://",
    "Europe/Paris", "Not/AZone", "UTC", "22:00-07:00", "25:00-07:00", "22:00-22:00",
    "calls", "voicemail", "sms", "call", "missed_call", "report", "tossd_error",
    "sqlite:///x.db", "sqlite://", "sqlite:///:memory:", "postgresql://u:p@h/db", "nope",
    "http://", "https://x/apihttp.php", "ftp://x", "{{ 7*7 }}", "{% for %}", "{{ caller.name }",
    "{{ ''.__class__.__mro__ }}", "debug", "json", "console", "php_serial",
    "07:00", "127.0.0.1:0", "[::1]:9090", "0.0.0.0:99999", "\x00", "\u202e", "a\nb",
]  # fmt: skip

_SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, 1, 2**31, 2**63 - 1]),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(PLAUSIBLE),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.dates(),
    st.times(),
)
_KNOWN_KEYS = sorted({key for keys in SECTIONS.values() for key in keys})
_KEYS = st.one_of(st.sampled_from(_KNOWN_KEYS), st.text(max_size=12))
VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)


def valid_document(folder: Path) -> dict[str, Any]:
    return {
        "state_dir": str(folder / "state"),
        "api": {"url": "http://127.0.0.1:9/apihttp.php", "key": API_SECRET},
        "poll": {"interval_s": 30.0},
        "route": [
            {
                "name": "pager",
                "events": ["call", "voicemail"],
                "notify": [f"json://tossd:{ROUTE_SECRET}@127.0.0.1:9/notify"],
            }
        ],
    }


_PATHS = st.one_of(
    st.tuples(st.sampled_from([*TOP_LEVEL, *SECTIONS]), st.none()),
    st.sampled_from(list(SECTIONS)).flatmap(
        lambda name: st.tuples(st.just(name), st.sampled_from([*SECTIONS[name], "unknown_key"]))
    ),
)
MUTATIONS = st.lists(st.tuples(_PATHS, st.one_of(st.just(DELETE), VALUES)), min_size=1, max_size=3)


def mutated(doc: dict[str, Any], mutations: list[tuple[tuple[str, str | None], Any]]) -> None:
    for (section, key), value in mutations:
        if key is None:
            holder: Any = doc
            key = section
        elif section == "route":
            holder = doc["route"][0] if is_table_array(doc.get("route")) else {}
        else:
            holder = doc.setdefault(section, {}) if isinstance(doc.get(section, {}), dict) else {}
        if value is DELETE:
            holder.pop(key, None)
        else:
            holder[key] = value


def load_or_refuse(path: Path, env: dict[str, str]) -> Config | None:
    """A Config, or a ConfigError that quotes no secret; anything else fails the test."""
    try:
        config = load_config(path, env)
    except ConfigError as exc:
        assert exc.message
        assert not [s for s in SECRETS if s in exc.message], exc.message
        return None
    shown = render_effective(config)
    assert not [s for s in SECRETS if s in shown], shown
    tomllib.loads(shown)  # `tossd config check` prints TOML that reads back
    try:
        ready_routes(config)
    except ConfigError as exc:
        assert not [s for s in SECRETS if s in exc.message], exc.message
    return config


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-config")


_ENV = st.fixed_dictionaries(
    {},
    optional={
        "TOSSD_API_KEY": st.text(max_size=20),
        "STATE_DIRECTORY": st.text(max_size=20),
        "HOME": st.text(max_size=20),
        "CREDENTIALS_DIRECTORY": st.sampled_from(["", "/nonexistent", "relative", "\x00"]),
    },
)


@HOSTILE
@given(mutations=MUTATIONS, env=_ENV)
def test_any_value_at_any_key_loads_or_is_a_config_error(
    mutations: list[tuple[tuple[str, str | None], Any]],
    env: dict[str, str],
    folder: Path,
    tally: Counter[str],
) -> None:
    tally["config: mutated documents"] += 1
    doc = copy.deepcopy(valid_document(folder))
    mutated(doc, mutations)
    path = folder / "tossd.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    load_or_refuse(path, env)


@HOSTILE
@given(text=st.text(max_size=2000))
def test_arbitrary_text_loads_or_is_a_config_error(
    text: str, folder: Path, tally: Counter[str]
) -> None:
    tally["config: arbitrary text"] += 1
    path = folder / "text.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    load_or_refuse(path, {})


@HOSTILE
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_load_or_are_a_config_error(
    data: bytes, folder: Path, tally: Counter[str]
) -> None:
    tally["config: arbitrary bytes"] += 1
    path = folder / "bytes.toml"
    path.write_bytes(data)
    load_or_refuse(path, {})


def test_the_valid_document_loads(folder: Path, tally: Counter[str]) -> None:
    """The base of the mutations is a real configuration (else they only test the refusal)."""
    tally["config: mutated documents"] += 1
    path = folder / "valid.toml"
    path.write_text(toml_document(valid_document(folder)), encoding="utf-8")
    config = load_or_refuse(path, {})
    assert config is not None and config.api.require_key() == API_SECRET


@pytest.mark.parametrize("opening", ["[", "{a = "])
def test_deeply_nested_toml_is_a_config_error(
    opening: str, folder: Path, tally: Counter[str]
) -> None:
    tally["config: deeply nested"] += 1
    closing = "]" if opening == "[" else "}"
    path = folder / "deep.toml"
    path.write_text("x = " + opening * 3000 + "1" + closing * 3000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(path, {})


@settings(max_examples=20, deadline=None)
@given(password=st.text("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=12))
def test_config_check_masks_the_database_password(
    password: str, folder: Path, tally: Counter[str]
) -> None:
    tally["config: database passwords"] += 1
    doc = valid_document(folder) | {"store": {"url": f"postgresql://tossd:{password}@db/tossd"}}
    path = folder / "db.toml"
    path.write_text(toml_document(doc), encoding="utf-8")
    assert password not in render_effective(load_config(path, {}))
