"""`tossd config check`: validate the configuration and print it, secrets masked."""

from __future__ import annotations

import argparse

from tossd.cli.startup import load


def cmd_config_check(args: argparse.Namespace) -> int:
    from tossd.config.render import render_effective

    config = load(args)
    print(render_effective(config), end="")
    return 0
