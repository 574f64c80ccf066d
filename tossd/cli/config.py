"""`tossd config check`: validate the configuration as start-up does, and print it."""

from __future__ import annotations

import argparse

from tossd.cli.startup import load


def cmd_config_check(args: argparse.Namespace) -> int:
    """Print the effective config (secrets masked), then run start-up's own checks: exit 78
    wherever `tossd run` would, with the same message."""
    from tossd.config.render import render_effective
    from tossd.daemon.startup import check_startup
    from tossd.notify.apprise.kinds import shown_url

    config = load(args)
    print(render_effective(config, shown_url), end="")
    routes, checked = check_startup(config)
    if args.online:
        import asyncio

        from tossd.daemon.startup import check_online

        checked += asyncio.run(check_online(config, routes))
    print("\n# checked, as `tossd run` checks at start:")
    print("".join(f"#   {line}\n" for line in checked), end="")
    return 0
