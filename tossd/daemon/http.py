"""The daemon's HTTP endpoints: GET /healthz and GET /metrics (the only aiohttp server code)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from tossd.config.ops import parse_listen
from tossd.daemon.connections import (
    CONNECTION_DEADLINE_S,
    KEEPALIVE_S,
    MAX_CONNECTIONS,
    ConnectionGuard,
)
from tossd.daemon.health import HealthReport
from tossd.daemon.metrics import Metrics
from tossd.errors import ListenError


@dataclass(frozen=True)
class HealthServer:
    """The running server; `url` has the bound port (the listen port may be 0)."""

    url: str


def health_app(report: Callable[[], HealthReport], metrics: Metrics | None) -> web.Application:
    """GET /healthz (200 or 503, the report as JSON) and, with `metrics`, GET /metrics."""

    async def healthz(_request: web.Request) -> web.Response:
        result = report()
        return web.json_response(result.to_json(), status=200 if result.ok else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    if metrics is not None:
        exposed = metrics

        async def scrape(request: web.Request) -> web.Response:
            body, content_type = exposed.render(request.headers.get("Accept", ""))
            return web.Response(body=body, headers={"Content-Type": content_type})

        app.router.add_get("/metrics", scrape)
    return app


@asynccontextmanager
async def serve_health(
    listen: str,
    report: Callable[[], HealthReport],
    metrics: Metrics | None = None,
) -> AsyncIterator[HealthServer]:
    """Serve `health_app` on `listen` ("host:port", port 0: any free one) until the block ends.

    An address that cannot be bound (a port in use) is a ListenError naming `health.listen`:
    a runtime failure that a restart may cure, not a configuration error.
    """
    host, port = parse_listen(listen, allow_port_zero=True)
    runner = web.AppRunner(
        health_app(report, metrics),
        access_log=None,
        shutdown_timeout=1.0,
        keepalive_timeout=KEEPALIVE_S,
    )
    await runner.setup()
    handlers = runner.server
    assert handlers is not None  # set by setup()
    guard = ConnectionGuard(MAX_CONNECTIONS, CONNECTION_DEADLINE_S)
    server: asyncio.Server | None = None
    try:
        try:
            server = await asyncio.get_running_loop().create_server(
                lambda: guard.wrap(handlers()), host, port
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ListenError(f"health.listen: cannot listen on {listen}: {reason}") from exc
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield HealthServer(f"http://{shown}:{bound_port}")
    finally:
        if server is not None:
            server.close()
        await runner.cleanup()
