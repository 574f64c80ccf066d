"""Unit tests of the configuration: loading, validation paths, key resolution, rendering."""

from __future__ import annotations

import datetime as dt
import math
import os
import tomllib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from tossd.config.load import find_config_path, load_config
from tossd.config.model import (
    ApiConfig,
    Config,
    LogConfig,
    PollConfig,
    StoreConfig,
    default_state_dir,
)
from tossd.config.render import dumps, format_string, render_effective
from tossd.config.transcribe import TranscribeConfig
from tossd.errors import ConfigError
from tossd.text.masking import SECRET_MASK as MASK

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "config" / "tossd.example.toml"
SECRET = "s3cr3t-Value-42"
SECTIONS: dict[str, type[ApiConfig | StoreConfig | PollConfig | LogConfig | TranscribeConfig]] = {
    "api": ApiConfig,
    "store": StoreConfig,
    "poll": PollConfig,
    "log": LogConfig,
    "transcribe": TranscribeConfig,
}


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "tossd.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def load_error(path: Path | None, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    return info.value


# --- the example file ------------------------------------------------------------------------


def test_example_file_loads_with_its_placeholder_key() -> None:
    config = load_config(EXAMPLE, {})
    assert config.api.require_key() == "your-api-key"
    assert config.api.key_source == "api.key"


def test_example_file_values_are_the_defaults() -> None:
    config = load_config(EXAMPLE, {})
    assert config.poll == PollConfig()
    assert config.log == LogConfig()
    assert config.store == StoreConfig()
    assert config.transcribe == TranscribeConfig()
    assert config.api.model_dump(exclude={"key"}) == ApiConfig().model_dump(exclude={"key"})


@pytest.mark.parametrize(
    ("section", "field"),
    [(section, field) for section, model in SECTIONS.items() for field in model.model_fields],
)
def test_example_file_documents_every_key(section: str, field: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    header = f"[{section}]"
    body = text.split(header, 1)[1].split("\n[", 1)[0] if header in text else ""
    assert f"{field} = " in body, f"{section}.{field} is not in the example file"


def test_example_file_documents_state_dir() -> None:
    top = EXAMPLE.read_text(encoding="utf-8").split("\n[", 1)[0]
    assert "state_dir = " in top


# --- defaults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("api.url", "https://www.TossableDigits.com/apihttp.php"),
        ("api.key", None),
        ("api.key_file", None),
        ("api.format", "json"),
        ("api.timeout_s", 30.0),
        ("api.max_concurrency", 8),
        ("api.max_requests_per_s", 10.0),
        ("api.retries", 3),
        ("api.backoff_s", 0.5),
        ("store.url", None),
        ("poll.interval_s", 60.0),
        ("poll.jitter_s", 5.0),
        ("poll.extensions_interval_s", 3600.0),
        ("poll.overlap_s", 600),
        ("poll.initial_window_s", 900),
        ("poll.streams", ("calls", "voicemail", "sms")),
        ("poll.calls_interval_s", None),
        ("poll.voicemail_interval_s", None),
        ("poll.sms_interval_s", None),
        ("log.level", "info"),
        ("log.format", "auto"),
    ],
)
def test_defaults(path: str, expected: object) -> None:
    value: Any = load_config(None, {})
    for part in path.split("."):
        value = getattr(value, part)
    assert value == expected


def test_default_store_url_is_in_state_dir(tmp_path: Path) -> None:
    config = load_config(None, {"STATE_DIRECTORY": str(tmp_path)})
    assert config.state_dir == tmp_path
    assert config.store_url == f"sqlite:///{tmp_path}/tossd.db"


def test_explicit_store_url_wins(write_config: Callable[[str], Path]) -> None:
    config = load_config(write_config('[store]\nurl = "sqlite:////srv/x.db"\n'), {})
    assert config.store_url == "sqlite:////srv/x.db"


@pytest.mark.parametrize(
    ("env", "is_root", "expected"),
    [
        ({"STATE_DIRECTORY": "/srv/a"}, True, "/srv/a"),
        ({"STATE_DIRECTORY": "/srv/a:/srv/b"}, False, "/srv/a"),
        ({"HOME": "/home/u"}, True, "/var/lib/tossd"),
        ({"HOME": "/home/u"}, False, "/home/u/.local/state/tossd"),
    ],
)
def test_default_state_dir(env: dict[str, str], is_root: bool, expected: str) -> None:
    assert default_state_dir(env, is_root=is_root) == Path(expected)


def test_state_dir_tilde_uses_home_from_env(write_config: Callable[[str], Path]) -> None:
    config = load_config(write_config('state_dir = "~/tossd"\n'), {"HOME": "/home/u"})
    assert config.state_dir == Path("/home/u/tossd")


@pytest.mark.parametrize(
    ("stream", "expected"),
    [("calls", 30.0), ("voicemail", 60.0), ("sms", 15.0)],
)
def test_interval_for_uses_override_else_interval(stream: str, expected: float) -> None:
    poll = PollConfig(interval_s=60, calls_interval_s=30, sms_interval_s=15)
    assert poll.interval_for(stream) == expected


def test_interval_for_unknown_stream() -> None:
    with pytest.raises(ValueError, match="fax"):
        PollConfig().interval_for("fax")


def test_config_is_frozen() -> None:
    config = load_config(None, {})
    with pytest.raises(ValidationError):
        config.poll.interval_s = 1  # type: ignore[misc]
    assert config.poll.interval_s == 60.0


# --- validation errors name the dotted key path -----------------------------------------------

BAD_VALUES = [
    ('[api]\nurl = "ftp://example.com/"', "api.url: must be an http:// or https:// URL"),
    ('[api]\nurl = "not a url"', "api.url: must be an http:// or https:// URL"),
    ('[api]\nformat = "xml"', "api.format: must be one of 'json' or 'php_serial'"),
    ("[api]\ntimeout_s = 0", "api.timeout_s: Input should be greater than 0"),
    ("[api]\ntimeout_s = inf", "api.timeout_s: Input should be a finite number"),
    ('[api]\ntimeout_s = "30"', "api.timeout_s: must be a number"),
    (
        "[api]\nmax_concurrency = 0",
        "api.max_concurrency: Input should be greater than or equal to 1",
    ),
    ("[api]\nmax_concurrency = 2.5", "api.max_concurrency: must be an integer"),
    ("[api]\nmax_requests_per_s = -1", "api.max_requests_per_s: Input should be greater than 0"),
    ("[api]\nretries = -1", "api.retries: Input should be greater than or equal to 0"),
    ("[api]\nretries = true", "api.retries: must be an integer"),
    ("[api]\nbackoff_s = 0", "api.backoff_s: Input should be greater than 0"),
    ('[api]\nkey = ""', "api.key: must not be empty"),
    ("[api]\nkey = 123", "api.key: must be a string (in quotes)"),
    ('[api]\nkey_file = ""', "api.key_file: must not be empty"),
    ("[api]\ncolour = 1", "api.colour: unknown key"),
    # A typo gets the closest key.
    (
        "[api]\nmax_concurency = 1",
        "api.max_concurency: unknown key (did you mean max_concurrency?)",
    ),
    # TOML has arrays, not tuples; one bad item is one error, not also "at least 1 item".
    (
        '[[route]]\nevents = "sms"\nnotify = ["json://h"]',
        'route "route-1".events: must be an array',
    ),
    (
        '[[route]]\nname = "office"\nevents = ["smss"]\nnotify = ["json://h"]',
        'route "office".events[0]: must be one of',
    ),
    ('[store]\nurl = "tossd.db"', "store.url: must be a database URL"),
    ("[poll]\ninterval_s = 0", "poll.interval_s: Input should be greater than 0"),
    ("[poll]\njitter_s = -1", "poll.jitter_s: Input should be greater than or equal to 0"),
    ("[poll]\nextensions_interval_s = 0", "poll.extensions_interval_s: Input should be greater"),
    ("[poll]\noverlap_s = -1", "poll.overlap_s: Input should be greater than or equal to 0"),
    ("[poll]\ninitial_window_s = 1.5", "poll.initial_window_s: must be an integer"),
    ('[poll]\nstreams = ["fax"]', "poll.streams[0]: must be one of 'calls', 'voicemail' or 'sms'"),
    ('[poll]\nstreams = ["sms", "calls", "sms"]', "poll.streams: listed more than once: sms"),
    ("[poll]\nstreams = []", "poll.streams: list at least one of calls, voicemail, sms"),
    ("[poll]\ncalls_interval_s = 0", "poll.calls_interval_s: Input should be greater than 0"),
    ("[poll]\nvoicemail_interval_s = -1", "poll.voicemail_interval_s: Input should be greater"),
    ('[poll]\nsms_interval_s = "5"', "poll.sms_interval_s: must be a number"),
    ("[poll]\nbogus = 1", "poll.bogus: unknown key"),
    ('[log]\nlevel = "INFO"', "log.level: must be one of 'debug', 'info', 'warning' or 'error'"),
    ('[log]\nformat = "xml"', "log.format: must be one of 'auto', 'json' or 'console'"),
    ('state_dir = ""', "state_dir: must not be empty"),
    ("state_dir = 5", "state_dir: Input is not a valid path"),
    ("[nope]\nx = 1", "nope: unknown key"),
    ("api = 5", "api: must be a table"),
]


@pytest.mark.parametrize(
    ("text", "expected"), BAD_VALUES, ids=[e.split(":")[0] for _, e in BAD_VALUES]
)
def test_bad_value_names_the_key_path(
    write_config: Callable[[str], Path], text: str, expected: str
) -> None:
    path = write_config(text + "\n")
    error = load_error(path)
    assert str(path) in str(error)
    assert f"\n  {expected}" in str(error)


def test_every_problem_is_listed(write_config: Callable[[str], Path]) -> None:
    path = write_config('[api]\nretries = -1\n[poll]\nbogus = 1\n[log]\nlevel = "loud"\n')
    lines = str(load_error(path)).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "api.retries",
        "poll.bogus",
        "log.level",
    ]


# --- API key resolution -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "expected_key", "expected_source"),
    [
        ({"key", "key_file", "env", "credential"}, "from-key", "api.key"),
        ({"key_file", "env", "credential"}, "from-file", "api.key_file "),
        ({"env", "credential"}, "from-env", "$TOSSD_API_KEY"),
        ({"credential"}, "from-credential", "systemd credential"),
        ({"blank_env", "credential"}, "from-credential", "systemd credential"),
        (set(), None, None),
        ({"empty_credentials_dir"}, None, None),
    ],
)
def test_key_resolution_order(
    tmp_path: Path,
    write_config: Callable[[str], Path],
    sources: set[str],
    expected_key: str | None,
    expected_source: str | None,
) -> None:
    (tmp_path / "key").write_text("  from-file\n", encoding="utf-8")
    (tmp_path / "creds").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "creds" / "api_key").write_text("from-credential\n", encoding="utf-8")
    lines = ["[api]"]
    # key and key_file are exclusive, so "both" is modelled as key in the file, key_file unused.
    if "key" in sources:
        lines.append('key = "from-key"')
    elif "key_file" in sources:
        lines.append(f'key_file = "{tmp_path / "key"}"')
    env = {"HOME": str(tmp_path)}
    if "env" in sources:
        env["TOSSD_API_KEY"] = "from-env"
    if "blank_env" in sources:
        env["TOSSD_API_KEY"] = "  "
    if "credential" in sources:
        env["CREDENTIALS_DIRECTORY"] = str(tmp_path / "creds")
    if "empty_credentials_dir" in sources:
        env["CREDENTIALS_DIRECTORY"] = str(tmp_path / "empty")
    api = load_config(write_config("\n".join(lines) + "\n"), env).api
    resolved = api.resolved_key.get_secret_value() if api.resolved_key else None
    assert resolved == expected_key
    if expected_source is None:
        assert api.key_source is None
    else:
        assert (api.key_source or "").startswith(expected_source)


def test_env_key_reaches_a_missing_api_section() -> None:
    assert load_config(None, {"TOSSD_API_KEY": "k1"}).api.require_key() == "k1"


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOSSD_API_KEY", "from-process-env")
    assert load_config(None).api.require_key() == "from-process-env"


def test_key_file_tilde_uses_home_from_env(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    (tmp_path / "key").write_text("tilde-key", encoding="utf-8")
    config = load_config(write_config('[api]\nkey_file = "~/key"\n'), {"HOME": str(tmp_path)})
    assert config.api.require_key() == "tilde-key"


def test_require_key_without_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {}).api.require_key()
    assert str(info.value) == (
        "api.key: no API key: set api.key, api.key_file, $TOSSD_API_KEY "
        "or the systemd credential api_key"
    )


def test_key_and_key_file_together_is_an_error(
    tmp_path: Path, write_config: Callable[[str], Path]
) -> None:
    (tmp_path / "key").write_text("other", encoding="utf-8")
    error = load_error(write_config(f'[api]\nkey = "{SECRET}"\nkey_file = "{tmp_path / "key"}"\n'))
    assert "api.key_file: set either api.key or api.key_file, not both" in str(error)
    assert SECRET not in str(error)


def _missing(path: Path) -> None:
    pass


def _directory(path: Path) -> None:
    path.mkdir()


def _no_permission(path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path.write_text(SECRET, encoding="utf-8")
    path.chmod(0)


def _not_utf8(path: Path) -> None:
    path.write_bytes(SECRET.encode() + b"\xff\xfe")


def _blank(path: Path) -> None:
    path.write_text(" \n", encoding="utf-8")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_missing, "cannot read {path}: No such file or directory"),
        (_directory, "cannot read {path}: Is a directory"),
        (_no_permission, "cannot read {path}: Permission denied"),
        (_not_utf8, "{path} is not UTF-8 text"),
        (_blank, "{path} is empty"),
    ],
)
def test_unreadable_key_file(
    tmp_path: Path, write_config: Callable[[str], Path], make: Callable[[Path], None], reason: str
) -> None:
    key_file = tmp_path / "api_key"
    make(key_file)
    error = str(load_error(write_config(f'[api]\nkey_file = "{key_file}"\n')))
    assert f"\n  api.key_file: {reason.format(path=key_file)}" in error
    assert SECRET not in error


def test_unreadable_credential_names_api_key(tmp_path: Path) -> None:
    (tmp_path / "api_key").mkdir()
    error = load_error(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert f"api.key: cannot read {tmp_path / 'api_key'}: Is a directory" in str(error)


# --- secrets never leak -----------------------------------------------------------------------


@pytest.mark.parametrize("source", ["key", "key_file", "env", "credential"])
def test_secret_not_in_repr_or_rendering(
    tmp_path: Path, write_config: Callable[[str], Path], source: str
) -> None:
    (tmp_path / "api_key").write_text(SECRET, encoding="utf-8")
    text = {
        "key": f'[api]\nkey = "{SECRET}"\n',
        "key_file": f'[api]\nkey_file = "{tmp_path / "api_key"}"\n',
    }
    env = {"env": {"TOSSD_API_KEY": SECRET}, "credential": {"CREDENTIALS_DIRECTORY": str(tmp_path)}}
    config = load_config(write_config(text.get(source, "")), env.get(source, {}))
    assert config.api.require_key() == SECRET
    for shown in (repr(config), str(config), repr(config.api), config.model_dump_json()):
        assert SECRET not in shown
    rendered = render_effective(config)
    assert SECRET not in rendered
    assert tomllib.loads(rendered)["api"]["key"] == MASK
    assert f"# key from {config.api.key_source}\nkey = " in rendered


@pytest.mark.parametrize(
    "text",
    [
        f'[api]\nkey = "{SECRET}"\ntimeout_s = 0\n',
        f'[poll]\nkey = "{SECRET}"\n',
        f'[api]\nkey = ["{SECRET}"]\n',
        f'[api]\nkey = "{SECRET}"\nkey_file = "/nonexistent"\n',
    ],
    ids=["other-error", "misplaced", "wrong-type", "both"],
)
def test_secret_not_in_error_or_traceback(write_config: Callable[[str], Path], text: str) -> None:
    error = load_error(write_config(text))
    assert SECRET not in str(error)
    assert SECRET not in "".join(traceback.format_exception(error))
    assert not isinstance(error.__context__, ValidationError)


def test_every_secret_str_is_masked() -> None:
    class WithToken(Config):
        token: SecretStr = SecretStr(SECRET)

    rendered = render_effective(WithToken())
    assert SECRET not in rendered
    assert tomllib.loads(rendered)["token"] == MASK


# --- finding the file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("present", "explicit", "from_env", "expected"),
    [
        ({"explicit", "env", "local", "system"}, True, True, "explicit"),
        ({"env", "local", "system"}, False, True, "env"),
        ({"local", "system"}, False, False, "local"),
        ({"system"}, False, False, "system"),
        (set(), False, False, None),
    ],
)
def test_find_config_path_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    present: set[str],
    explicit: bool,
    from_env: bool,
    expected: str | None,
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    paths = {
        "explicit": tmp_path / "explicit.toml",
        "env": tmp_path / "env.toml",
        "local": cwd / "tossd.toml",
        "system": tmp_path / "system.toml",
    }
    for name in present:
        paths[name].write_text("", encoding="utf-8")
    env = {"TOSSD_CONFIG": str(paths["env"])} if from_env else {}
    found = find_config_path(
        paths["explicit"] if explicit else None, env, system_path=paths["system"]
    )
    assert found == (paths[expected] if expected else None)


@pytest.mark.parametrize(
    ("explicit", "env", "origin"),
    [(True, {}, "-c/--config"), (False, {"TOSSD_CONFIG": "MISSING"}, "$TOSSD_CONFIG")],
)
def test_find_config_path_missing_named_file(
    tmp_path: Path, explicit: bool, env: dict[str, str], origin: str
) -> None:
    missing = tmp_path / "missing.toml"
    env = {key: str(missing) for key in env}
    with pytest.raises(ConfigError) as info:
        find_config_path(missing if explicit else None, env, system_path=tmp_path / "none")
    assert str(info.value) == f"{origin}: {missing}: no such file"


def test_find_config_path_ignores_empty_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config_path(None, {"TOSSD_CONFIG": ""}, system_path=tmp_path / "none") is None


# --- reading the file -------------------------------------------------------------------------


def test_toml_syntax_error_names_file_and_line(write_config: Callable[[str], Path]) -> None:
    path = write_config('[api]\nretries = 3\nkey = "unterminated\n')
    error = str(load_error(path))
    assert error.startswith(f"{path}: invalid TOML: ")
    assert "line 3" in error


def test_config_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "tossd.toml"
    path.write_bytes(b'[api]\nkey = "\xff"\n')
    assert str(load_error(path)) == f"{path}: not UTF-8 text"


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    assert str(load_error(tmp_path)) == f"{tmp_path}: cannot read: Is a directory"


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["defaults", "example"])
def test_render_effective_reparses_and_reloads(tmp_path: Path, source: str) -> None:
    env = {"TOSSD_API_KEY": SECRET, "STATE_DIRECTORY": str(tmp_path)}
    config = load_config(None if source == "defaults" else EXAMPLE, env)
    parsed = tomllib.loads(render_effective(config))
    assert parsed["store"]["url"] == config.store_url
    assert parsed["poll"]["streams"] == list(config.poll.streams)
    # Without the masked key, the rendering is itself a configuration equal to the original.
    del parsed["api"]["key"]
    again = tmp_path / "again.toml"
    again.write_text(dumps(parsed), encoding="utf-8")
    reloaded = load_config(again, {"TOSSD_API_KEY": SECRET})
    assert (reloaded.state_dir, reloaded.store, reloaded.poll, reloaded.log) == (
        config.state_dir,
        StoreConfig(url=config.store_url),
        config.poll,
        config.log,
    )
    assert reloaded.api.model_dump(exclude={"key"}) == config.api.model_dump(exclude={"key"})


def test_render_effective_without_key_says_how_to_set_one() -> None:
    rendered = render_effective(load_config(None, {}))
    assert "# no API key: set api.key, api.key_file" in rendered
    assert "key" not in tomllib.loads(rendered)["api"]


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'quote " and \\ backslash',
        "tab\tnew\nline\r",
        "bell \x07 del \x7f",
        "unicode é ☎",
        "",
    ],
)
def test_format_string_round_trips(text: str) -> None:
    assert tomllib.loads(f"x = {format_string(text)}")["x"] == text


def test_dumps_round_trips_nested_values() -> None:
    data: dict[str, Any] = {
        "top": 1,
        "flag": False,
        "when": dt.time(22, 30),
        "day": dt.date(2024, 5, 1),
        "big": 1e20,
        "small": 1e-05,
        "odd key": "v",
        "section": {"list": [1, 2], "inline": [{"a": 1}, 2], "empty": []},
        "route": [{"name": "a", "to": ["x"]}, {"name": "b", "quiet": {"start": "22:00"}}],
    }
    assert tomllib.loads(dumps(data)) == data


def test_dumps_special_floats_and_none() -> None:
    text = dumps({"a": math.inf, "b": -math.inf, "c": None})
    parsed = tomllib.loads(text)
    assert parsed["a"] == math.inf
    assert parsed["b"] == -math.inf
    assert "c" not in parsed
    assert "# c: not set" in text
    assert math.isnan(tomllib.loads(dumps({"n": math.nan}))["n"])


# --- route names -------------------------------------------------------------------------------

ROUTE = '[[route]]\nevents = ["sms"]\nnotify = ["json://127.0.0.1:9/hook"]\n'


def test_unnamed_routes_are_named_by_their_place(write_config: Callable[[str], Path]) -> None:
    named = ROUTE.replace("[[route]]\n", '[[route]]\nname = "office"\n')
    config = load_config(write_config(ROUTE + named + ROUTE), {})
    assert [route.name for route in config.route] == ["route-1", "office", "route-3"]


def test_route_names_stay_unique(write_config: Callable[[str], Path]) -> None:
    clash = ROUTE + ROUTE.replace("[[route]]\n", '[[route]]\nname = "route-1"\n')
    error = load_error(write_config(clash))
    assert "route: route name 'route-1' is used twice (an unnamed route is called route-N" in str(
        error
    )
