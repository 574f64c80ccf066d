"""SIGHUP: the config read again and, when it still validates, taken up without a restart.

Taken up at once: routes and their templates (and `[report]`), the poll intervals and
streams, `[delivery] interval_s`, `[retention]`, `[log]`. The other sections are held by
open resources (the API client, the store, the HTTP endpoint, the sender's limits): a change
there is reported as needing a restart. A config that no longer validates (or whose URLs or
templates would stop `tossd run` at start) is refused: the error is logged, the running
configuration kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from tossd.config.model import Config
from tossd.daemon.routes import ready_routes
from tossd.errors import ConfigError
from tossd.notify.routing import Route

log = structlog.get_logger(__name__)

#: `[poll]` keys a reload takes up; the poller holds the others.
_LIVE_POLL = {"interval_s", "jitter_s", "streams", "calls_interval_s"}
_LIVE_POLL |= {"voicemail_interval_s", "sms_interval_s", "extensions_interval_s"}
#: Sections (and `[delivery]` keys) a reload takes up whole.
_LIVE = {"route", "report", "retention", "log", "poll", "delivery"}


@dataclass(frozen=True)
class Reloaded:
    """A config accepted on SIGHUP: its routes made ready, and what needs a restart."""

    config: Config
    routes: list[Route]
    restart_needed: tuple[str, ...]


def reread(read: Callable[[], Config], current: Config) -> Reloaded | None:
    """The config `read` gives, checked as start-up checks it; None (and the error logged)
    when it is refused."""
    try:
        config = read()
        routes = ready_routes(config)
    except ConfigError as exc:
        log.error("config.reload_failed", error=exc.message, kept="the running configuration")
        return None
    return Reloaded(config, routes, needs_restart(current, config))


def needs_restart(old: Config, new: Config) -> tuple[str, ...]:
    """The keys (or sections) changed in `new` that a reload cannot take up (pure)."""
    changed = [
        name
        for name in type(old).model_fields
        if name not in _LIVE and getattr(old, name) != getattr(new, name)
    ]
    changed += [
        f"poll.{key}"
        for key in type(old.poll).model_fields
        if key not in _LIVE_POLL and getattr(old.poll, key) != getattr(new.poll, key)
    ]
    changed += [
        f"delivery.{key}"
        for key in type(old.delivery).model_fields
        if key not in ("interval_s", "timezone")
        and getattr(old.delivery, key) != getattr(new.delivery, key)
    ]
    return tuple(changed)


def taken_up(reloaded: Reloaded, relog: Callable[[Config], None] | None) -> None:
    """The last step of a reload: logging as the new config says, and the line saying so."""
    if relog is not None:
        relog(reloaded.config)
    log.info(
        "config.reloaded",
        routes=[route.name for route in reloaded.routes],
        restart_needed=list(reloaded.restart_needed),
    )
