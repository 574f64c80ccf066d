"""Turning `[[route]]` config into ready routes at start: URLs checked, templates compiled.

A bad URL or template is a bad config: ConfigError naming the key, never the URL itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from tossd.config.problems import route_label
from tossd.config.routes import RouteConfig
from tossd.errors import ConfigError
from tossd.notify.apprise.kinds import shown_url, target_info, urls_from_config, validate_url
from tossd.notify.apprise.plugins import register as register_apprise_plugins
from tossd.notify.render import compile_template
from tossd.notify.routing import Route, Target, unique_targets
from tossd.text.zones import zone


def checked_target(url: str, key: str, config_key: str) -> Target:
    """A target whose URL Apprise accepts; else a ConfigError naming `config_key`."""
    reason = validate_url(url)
    if reason is not None:
        raise ConfigError(f"{config_key}: {reason}")
    return Target(url, key, shown_url(url), target_info(url))


def build_route(index: int, config: RouteConfig, default_tz: tzinfo) -> Route:
    """The route at `index` made ready; errors name it by its name (`route "office"`)."""
    key = route_label(config.name)
    targets = [
        checked_target(url, f"name:{name}" if name else f"notify[{n}]", f"{key}.notify[{n}]")
        for n, (name, url) in enumerate(config.named_urls())
    ]
    if config.notify_config is not None:
        try:
            listed = urls_from_config(config.notify_config, config.tags)
        except ValueError as exc:
            raise ConfigError(f"{key}.notify_config: {exc}") from None
        targets += [
            checked_target(url, f"notify_config[{n}]", f"{key}.notify_config")
            for n, url in enumerate(listed)
        ]
    title = body = None
    if config.title_template is not None:
        title = compile_template(config.title_template, name=f"{key}.title_template")
    if config.body_template is not None:
        body = compile_template(config.body_template, name=f"{key}.body_template")
    return Route(
        name=config.name,
        events=frozenset(config.events),
        extensions=frozenset(str(e) for e in config.extensions),
        targets=unique_targets(targets),
        attach_audio=config.attach_audio,
        tz=zone(config.timezone, default_tz),
        quiet=config.quiet,
        title_template=title,
        body_template=body,
        fold_voicemail_calls=config.fold_voicemail_calls,
    )


def build_routes(configs: Sequence[RouteConfig], default_tz: tzinfo) -> list[Route]:
    """Every `[[route]]` made ready; registers tossd's Apprise plugins first (at start)."""
    register_apprise_plugins()
    return [build_route(index, config, default_tz) for index, config in enumerate(configs)]


def route_secrets(routes: Sequence[Route]) -> list[str]:
    """Every target URL: the log redactor masks them wherever they might appear."""
    return [target.url for route in routes for target in route.targets]
