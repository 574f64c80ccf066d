"""Building tossd's parts from the config: client, store, routes, deliverer; one-shot runs."""

from __future__ import annotations

import time

from tossd.api import Client
from tossd.api.transport import RequestHook
from tossd.config import Config
from tossd.config_routes import RouteConfig
from tossd.errors import ConfigError
from tossd.notify.deliver import Deliverer, DrainReport
from tossd.notify.routing import Route
from tossd.notify.targets import build_route, build_routes, host_timezone, zone
from tossd.poll import Poller, StreamReport
from tossd.store import Store


def open_client(config: Config, *, on_request: RequestHook | None = None) -> Client:
    api = config.api
    return Client.connect(
        api.url,
        api.require_key(),
        fmt=api.format,
        timeout_s=api.timeout_s,
        max_concurrency=api.max_concurrency,
        max_requests_per_s=api.max_requests_per_s,
        retries=api.retries,
        backoff_s=api.backoff_s,
        on_request=on_request,
    )


def open_store(config: Config) -> Store:
    return Store.open(config.store_url, audio_dir=config.state_dir / "audio")


#: The route that `[report] notify` URLs become, so the ledger can deliver to them.
REPORT_ROUTE = "[report]"


def ready_routes(config: Config) -> list[Route]:
    """Routes with URLs checked and templates compiled: a bad one is a ConfigError at start."""
    default_tz = zone(config.delivery.timezone, host_timezone())
    routes = build_routes(config.route, default_tz)
    if config.report.notify:
        report = RouteConfig(name=REPORT_ROUTE, events=("report",), notify=config.report.notify)
        try:
            routes.append(build_route(len(routes), report, default_tz))
        except ConfigError as exc:
            # The error names the synthesized route; name the user's key instead.
            raise ConfigError(exc.message.replace(f"route[{len(routes)}]", "report", 1)) from None
    return routes


def open_deliverer(config: Config, store: Store, routes: list[Route]) -> Deliverer:
    return Deliverer(store, store.ledger(), routes, config.delivery)


async def poll_once(config: Config) -> tuple[list[StreamReport], DrainReport]:
    """`tossd poll --once`: every stream once, pending audio, then one delivery pass."""
    routes = ready_routes(config)
    with open_store(config) as store:
        async with open_client(config) as api:
            reports = await Poller(api, store, config.poll).poll_all()
        return reports, await open_deliverer(config, store, routes).drain()


async def retry_outbox(
    config: Config, *, ids: list[int], include_dead: bool
) -> tuple[int, DrainReport]:
    """`tossd outbox retry`: make undelivered rows due now and deliver them."""
    routes = ready_routes(config)
    with open_store(config) as store:
        count = store.ledger().retry(int(time.time()), ids=ids, include_dead=include_dead)
        return count, await open_deliverer(config, store, routes).drain()
