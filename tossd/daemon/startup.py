"""What `tossd run` checks before it starts, as one function `tossd config check` runs too.

Both exit 78 for the same configs: the key is present, every Apprise URL loads (each
`notify`, every `notify_config` file and `[report] notify`), every template compiles.
"""

from __future__ import annotations

from tossd.config.model import Config
from tossd.daemon.routes import ready_routes


def check_startup(config: Config) -> list[str]:
    """Raise ConfigError where start-up would; else one line per thing checked."""
    config.api.require_key()
    routes = ready_routes(config)
    targets = sum(len(route.targets) for route in routes)
    templates = sum(
        template is not None
        for route in routes
        for template in (route.title_template, route.body_template)
    )
    listen = config.health.address
    return [
        f"api key: present ({config.api.key_source})",
        f"routes: {len(routes)}, with {targets} Apprise targets, each loaded by Apprise",
        f"templates: {templates} compiled",
        f"health endpoints: {f'{listen.host}:{listen.port}' if listen else 'off'}",
    ]
