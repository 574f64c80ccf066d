"""Building tossd's parts from the config: client, store, routes, deliverer; one-shot runs."""

from __future__ import annotations

import time

from tossd.api.client import Client
from tossd.api.transport import RequestHook
from tossd.config.model import Config
from tossd.config.routes import RouteConfig
from tossd.domain import Clock, Notice
from tossd.errors import ConfigError
from tossd.notify.deliver import Deliverer
from tossd.notify.routing import Route
from tossd.notify.targets import build_route, build_routes
from tossd.store.store import Store
from tossd.text.zones import host_timezone, zone


def open_client(config: Config, *, on_request: RequestHook | None = None) -> Client:
    return Client.connect(config.api, config.api.require_key(), on_request=on_request)


def open_store(config: Config) -> Store:
    return Store.open(config.store_url, audio_dir=config.state_dir / "audio")


#: The route that `[report] notify` URLs become, so the ledger can deliver to them.
REPORT_ROUTE = "[report]"


def ready_routes(config: Config) -> list[Route]:
    """Routes with URLs checked and templates compiled: a bad one is a ConfigError at start."""
    default_tz = zone(config.delivery.timezone, host_timezone())
    routes = build_routes(config.route, default_tz)
    if config.report.notify:
        report = RouteConfig(
            name=REPORT_ROUTE, events=(Notice.REPORT,), notify=config.report.notify
        )
        try:
            routes.append(build_route(len(routes), report, default_tz))
        except ConfigError as exc:
            # The error names the synthesized route; name the user's key instead.
            raise ConfigError(exc.message.replace(f"route[{len(routes)}]", "report", 1)) from None
    return routes


def open_deliverer(
    config: Config, store: Store, routes: list[Route], *, clock: Clock = time.time
) -> Deliverer:
    return Deliverer(store, store.ledger(), routes, config.delivery, clock=clock)
