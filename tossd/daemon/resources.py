"""Building tossd's parts from the config: client, store, routes, deliverer; one-shot runs."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from tossd.api.client import Client
from tossd.api.transport import RequestHook
from tossd.config.model import Config
from tossd.config.report import ReportConfig
from tossd.config.routes import RouteConfig
from tossd.domain import Clock, Notice
from tossd.errors import ConfigError
from tossd.notify.deliver import Deliverer
from tossd.notify.routing import Route
from tossd.notify.targets import build_route, build_routes
from tossd.store.store import Store
from tossd.text.phone import use_places
from tossd.text.zones import host_timezone, zone


def open_client(config: Config, *, on_request: RequestHook | None = None) -> Client:
    return Client.connect(config.api, config.api.require_key(), on_request=on_request)


def use_place_index(config: Config, env: Mapping[str, str] | None = None) -> bool:
    """Build (once) and open the caller-place index: in systemd's CacheDirectory= when the
    unit has one (a derived file, rebuilt when lost), else in `state_dir`."""
    env = os.environ if env is None else env
    cache = env.get("CACHE_DIRECTORY", "").split(":")[0]
    return use_places(Path(cache) if cache else config.state_dir)


#: The route that `[report] notify` URLs become, so the ledger can deliver to them.
REPORT_ROUTE = "[report]"


def ready_routes(config: Config, *, report: ReportConfig | None = None) -> list[Route]:
    """Routes with URLs checked and templates compiled: a bad one is a ConfigError at start.

    `[report] notify` (or the `report` section given) becomes one more route, so reports go
    through the ledger like every other message.
    """
    default_tz = zone(config.delivery.timezone, host_timezone())
    routes = build_routes(config.route, default_tz)
    notify = (report or config.report).notify
    if notify:
        report_route = RouteConfig(name=REPORT_ROUTE, events=(Notice.REPORT,), notify=notify)
        try:
            routes.append(build_route(len(routes), report_route, default_tz))
        except ConfigError as exc:
            # The error names the synthesized route; name the user's key instead.
            raise ConfigError(exc.message.replace(f"route[{len(routes)}]", "report", 1)) from None
    return routes


def open_deliverer(
    config: Config, store: Store, routes: list[Route], *, clock: Clock = time.time
) -> Deliverer:
    # Notifications name the caller's place: the index is opened (built once) here.
    use_place_index(config)
    return Deliverer(store, store.ledger(), routes, config.delivery, clock=clock)
