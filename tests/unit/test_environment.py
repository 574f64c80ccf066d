"""Settings from the environment (`TOSSD_API__MAX_CONCURRENCY=4`): every key, over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tossd.config.load import load_config
from tossd.domain import Notice, Stream
from tossd.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tossd.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("env", "path", "expected"),
    [
        # An integer, read as TOML.
        ({"TOSSD_API__MAX_CONCURRENCY": "4"}, ("api", "max_concurrency"), 4),
        # A float key takes an integer too.
        ({"TOSSD_POLL__INTERVAL_S": "30"}, ("poll", "interval_s"), 30.0),
        # An array, as TOML spells it.
        ({"TOSSD_POLL__STREAMS": '["sms"]'}, ("poll", "streams"), (Stream.SMS,)),
        # A boolean.
        ({"TOSSD_REPORT__ENABLED": "false"}, ("report", "enabled"), False),
        # A key taking text gets it as written: no quotes needed, digits stay text.
        ({"TOSSD_LOG__LEVEL": "debug"}, ("log", "level"), "debug"),
        ({"TOSSD_HEALTH__LISTEN": "127.0.0.1:9187"}, ("health", "listen"), "127.0.0.1:9187"),
        ({"TOSSD_REPORT__AT": "08:30"}, ("report", "at"), "08:30"),
        # A top-level key has no section.
        ({"TOSSD_STATE_DIR": "/srv/tossd"}, ("state_dir",), Path("/srv/tossd")),
        # Not a setting: another program's variable, left alone.
        ({"TOSSD_SOMETHING_ELSE": "1"}, ("api", "max_concurrency"), 8),
    ],
)
def test_a_setting_from_the_environment(
    tmp_path: Path, env: dict[str, str], path: tuple[str, ...], expected: object
) -> None:
    value: object = load_config(None, {"HOME": str(tmp_path), **env})
    for part in path:
        value = getattr(value, part)
    assert value == expected


def test_the_environment_overrides_the_file_key_by_key(tmp_path: Path) -> None:
    config_file = write(tmp_path, "[api]\nmax_concurrency = 2\nretries = 5\n")
    config = load_config(config_file, {"TOSSD_API__MAX_CONCURRENCY": "4"})
    assert (config.api.max_concurrency, config.api.retries) == (4, 5)


def test_the_api_key_from_the_environment_both_ways(tmp_path: Path) -> None:
    # $TOSSD_API_KEY keeps working, as a fallback; TOSSD_API__KEY is api.key itself.
    assert load_config(None, {"TOSSD_API_KEY": "k-old"}).api.require_key() == "k-old"
    both = load_config(None, {"TOSSD_API_KEY": "k-old", "TOSSD_API__KEY": "12345678"})
    assert both.api.require_key() == "12345678"
    assert both.api.key_source == "api.key"


def test_routes_from_the_environment_as_inline_toml(tmp_path: Path) -> None:
    env = {"TOSSD_ROUTE": '[{ events = ["sms"], notify = ["json://127.0.0.1:9/hook"] }]'}
    (route,) = load_config(None, env).route
    assert (route.name, route.events) == ("route-1", (Notice.SMS,))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # A typo: the closest variable.
        (
            {"TOSSD_API__MAX_CONCURENCY": "4"},
            "$TOSSD_API__MAX_CONCURENCY: no such setting"
            " (did you mean $TOSSD_API__MAX_CONCURRENCY?)",
        ),
        ({"TOSSD_APY__RETRIES": "1"}, "(did you mean $TOSSD_API?)"),
        # A value of the wrong kind names the variable it came from.
        (
            {"TOSSD_API__MAX_CONCURRENCY": "many"},
            "api.max_concurrency (from $TOSSD_API__MAX_CONCURRENCY): must be an integer",
        ),
        ({"TOSSD_LOG__LEVEL__X": "1"}, "$TOSSD_LOG__LEVEL__X: log.level has no keys below it"),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env)
    assert message in caught.value.message
