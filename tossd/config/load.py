"""Finding and reading the config file: TOML + environment -> a validated `Config`."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tossd.config.environment import merged, settings_from_env
from tossd.config.model import Config
from tossd.config.problems import describe_errors
from tossd.config.routes import route_names
from tossd.errors import ConfigError

SYSTEM_CONFIG_PATH = Path("/etc/tossd/tossd.toml")


def find_config_path(
    explicit: Path | None, env: Mapping[str, str], *, system_path: Path = SYSTEM_CONFIG_PATH
) -> Path | None:
    """-c/--config, else $TOSSD_CONFIG, else ./tossd.toml, else /etc/tossd/tossd.toml, else None."""
    for given, origin in ((explicit, "-c/--config"), (env.get("TOSSD_CONFIG"), "$TOSSD_CONFIG")):
        if given:
            # Asked for by name: a missing file is a mistake, not a reason to use defaults.
            if not Path(given).is_file():
                raise ConfigError(f"{origin}: {given}: no such file")
            return Path(given)
    for candidate in (Path("tossd.toml").absolute(), system_path):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at `path` (None: defaults only) with the settings of
    `env` on top (`TOSSD_API__TIMEOUT_S=10`: see `tossd.config.environment`)."""
    env = os.environ if env is None else env
    from_file = _read_toml(path) if path is not None else {}
    from_env, origins = settings_from_env(env, Config)
    raw = merged(from_file, from_env)
    try:
        return Config.model_validate(raw, context={"env": env})
    except ValidationError as exc:
        names = route_names(raw.get("route"))
        problems = describe_errors(exc, model=Config, route_names=names, origins=origins)
    # Raised outside the `except` so no chained ValidationError (which quotes inputs,
    # secrets included) reaches a traceback.
    where = str(path) if path is not None else "the built-in defaults"
    raise ConfigError(f"invalid configuration in {where}:\n  " + "\n  ".join(problems))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        # tomllib recurses once per nesting level: a hostile file must still exit 78.
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
