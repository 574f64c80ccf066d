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


def ready_routes(config: Config, *, reports: tuple[ReportConfig, ...] | None = None) -> list[Route]:
    """Routes with URLs checked and templates compiled: a bad one is a ConfigError at start.

    Each report's `notify` (of `reports`, else of the config) becomes one more route, so
    reports go through the ledger like every other message.
    """
    default_tz = zone(config.delivery.timezone, host_timezone())
    routes = build_routes(config.route, default_tz)
    for report in config.reports if reports is None else reports:
        if not report.notify:
            continue
        name = report.route_name
        report_route = RouteConfig(name=name, events=(Notice.REPORT,), notify=report.notify)
        try:
            routes.append(build_route(len(routes), report_route, default_tz))
        except ConfigError as exc:
            # The error names the synthesized route; name the user's key instead.
            key = "report" if isinstance(config.report, ReportConfig) else f"report {report.name!r}"
            raise ConfigError(exc.message.replace(route_label(name), key, 1)) from None
    return routes
