"""What every command that reads the config does first: find it, load it, set up logging."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tossd.config.model import Config


def load(args: argparse.Namespace) -> Config:
    """The validated config of `-c`/$TOSSD_CONFIG/the default paths; logging redacts its secrets."""
    from tossd.cli.log import configure_logging
    from tossd.config.load import find_config_path, load_config
    from tossd.text.masking import api_url_secrets, url_secrets

    path = find_config_path(args.config, os.environ)
    config = load_config(path, os.environ)
    key = config.api.resolved_key
    secrets = [key.get_secret_value()] if key is not None else []
    secrets += api_url_secrets(config.api.url)
    secrets += [part for route in config.route for url in route.urls() for part in url_secrets(url)]
    configure_logging(config.log.level, config.log.format, secrets=secrets)
    return config
