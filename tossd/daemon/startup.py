"""What `tossd run` checks before it starts, as one function `tossd config check` runs too.

Both exit 78 for the same configs: the key is present, every Apprise URL loads (each
`notify`, every `notify_config` file and `[report] notify`), every template compiles.
"""

from __future__ import annotations

import time

from tossd.config.model import Config
from tossd.daemon.routes import ready_routes
from tossd.notify.routing import Route, unmatched_routes


def check_startup(config: Config) -> tuple[list[Route], list[str]]:
    """Raise ConfigError where start-up would; else the ready routes, and one line per thing
    checked."""
    config.api.require_key()
    routes = ready_routes(config)
    targets = sum(len(route.targets) for route in routes)
    templates = sum(
        template is not None
        for route in routes
        for template in (route.title_template, route.body_template)
    )
    listen = config.health.address
    return routes, [
        f"api key: present ({config.api.key_source})",
        f"routes: {len(routes)}, with {targets} Apprise targets, each loaded by Apprise",
        f"templates: {templates} compiled",
        f"health endpoints: {f'{listen.host}:{listen.port}' if listen else 'off'}",
    ]


async def check_online(config: Config, routes: list[Route]) -> list[str]:
    """`config check --online`: the key works (else ApiKeyRejected, exit 77) and every route
    whose `extensions` name no number of the account is reported."""
    from tossd.daemon.resources import open_client  # the HTTP client only when asked
    from tossd.poll.translate import listed_extension

    async with open_client(config) as api:
        listed = await api.extension_list()
    now = int(time.time())
    known = [e.known() for e in map(listed_extension, listed) if e.is_active(now)]
    unmatched = unmatched_routes(routes, known)
    lines = [f"api: the key works; {len(known)} active numbers"]
    lines += [
        f"WARNING: route {name!r} matches no active number: it can never fire" for name in unmatched
    ]
    return lines
