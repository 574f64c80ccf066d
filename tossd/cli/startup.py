"""What every command that reads the config does first: find it, load it, set up logging."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tossd.config.model import Config


def load(args: argparse.Namespace) -> Config:
    """The validated config of `-c`/$TOSSD_CONFIG/the default paths; logging redacts its secrets."""
    config, _reread = load_rereadable(args)
    return config


def load_rereadable(args: argparse.Namespace) -> tuple[Config, Callable[[], Config]]:
    """`load`, and a function reading the same file again (SIGHUP), which logs nothing and
    leaves logging alone: `use_logging` applies a new config's once it is accepted."""
    from tossd.config.load import find_config_path, load_config

    path = find_config_path(args.config, os.environ)
    config = load_config(path, os.environ)
    use_logging(config)
    warn_if_exposed(path)
    return config, lambda: load_config(path, os.environ)


def use_logging(config: Config) -> None:
    """Logging at the config's level and format, masking its secrets."""
    from tossd.cli.log import configure_logging
    from tossd.text.masking import api_url_secrets, url_secrets

    key = config.api.resolved_key
    secrets = [key.get_secret_value()] if key is not None else []
    secrets += api_url_secrets(config.api.url)
    transcribe_key = config.transcribe.bearer()
    secrets += [transcribe_key] if transcribe_key else []
    secrets += api_url_secrets(config.transcribe.base_url)
    secrets += [part for route in config.route for url in route.urls() for part in url_secrets(url)]
    configure_logging(config.log.level, config.log.format, secrets=secrets)


def warn_if_exposed(path: Path | None) -> None:
    """A config file holding the API key should be readable by its owner only."""
    from tossd.config.exposure import exposed_key_warning

    warning = exposed_key_warning(path)
    if warning is not None:
        import structlog

        structlog.get_logger("tossd.config").warning("config.readable_by_others", **warning)
