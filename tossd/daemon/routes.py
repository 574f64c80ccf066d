"""The routes the config describes, made ready: URLs loaded by Apprise, templates compiled."""

from __future__ import annotations

from tossd.config.model import Config
from tossd.config.problems import route_label
from tossd.config.report import ReportConfig
from tossd.config.routes import RouteConfig
from tossd.domain import Notice
from tossd.errors import ConfigError
from tossd.notify.routing import Route
from tossd.notify.targets import build_route, build_routes
from tossd.text.zones import host_timezone, zone

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
            raise ConfigError(exc.message.replace(route_label(REPORT_ROUTE), "report", 1)) from None
    return routes
