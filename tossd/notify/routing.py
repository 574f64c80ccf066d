"""Who gets what, and when (pure): route matching and quiet hours."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import cached_property

from jinja2 import Template

from tossd.config.routes import QuietHours
from tossd.domain import KnownExtension, Notice, StoredEvent, matches_kind
from tossd.notify.message import TargetInfo
from tossd.store.records import PlannedDelivery


@dataclass(frozen=True)
class Target:
    """One Apprise URL of one route. `url` is a secret: log `label`.

    `key` is the target's identity in the ledger: its `name` if it has one, else where it
    stands in the route (`notify[0]`, `notify_config[2]`). It holds no part of the URL, so
    correcting a host, port, password or token keeps every row owed to the target.
    """

    url: str
    key: str
    label: str
    info: TargetInfo

    @cached_property
    def fingerprint(self) -> str:
        """The URL's id: one send lane per URL, whichever routes share it."""
        return fingerprint(self.url)


@dataclass(frozen=True)
class Route:
    """A `[[route]]` made ready to use: targets resolved, templates compiled."""

    name: str
    events: frozenset[str]
    extensions: frozenset[str]
    targets: tuple[Target, ...]
    attach_audio: bool
    tz: tzinfo
    quiet: QuietHours | None = None
    title_template: Template | None = None
    body_template: Template | None = None
    fold_voicemail_calls: bool = True

    @property
    def folds_voicemail_calls(self) -> bool:
        """Calls that reached voicemail are told as their voicemail, not twice."""
        wanted = {Notice.CALL, Notice.VOICEMAIL}
        return self.fold_voicemail_calls and wanted <= self.events

    def target(self, key: str) -> Target | None:
        return next((t for t in self.targets if t.key == key), None)


def unique_targets(targets: Iterable[Target]) -> tuple[Target, ...]:
    """One target per URL (the first listed): a URL given twice is told once."""
    first: dict[str, Target] = {}
    for target in targets:
        first.setdefault(target.url, target)
    return tuple(first.values())


def fingerprint(url: str) -> str:
    """Stable id of a target URL without its secrets (ledgers before 0.5 stored it)."""
    return hashlib.sha256(url.encode()).hexdigest()[:20]


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def selects(selectors: Iterable[str], ext: KnownExtension | None) -> bool:
    """Empty selects every number; else a DID (any punctuation), an extension id or an alias."""
    wanted = frozenset(selectors)
    if not wanted:
        return True
    if ext is None:
        return False
    aliases = {s.casefold() for s in wanted}
    dids = {_digits(s) for s in wanted if _digits(s)}
    return (
        str(ext.extensionid) in wanted
        or (bool(_digits(ext.did)) and _digits(ext.did) in dids)
        or (bool(ext.alias) and ext.alias.casefold() in aliases)
    )


def unmatched_routes(routes: Sequence[Route], extensions: Iterable[KnownExtension]) -> list[str]:
    """The routes whose `extensions` select none of these numbers: they can never fire."""
    known = list(extensions)
    return [
        route.name
        for route in routes
        if route.extensions and not any(selects(route.extensions, ext) for ext in known)
    ]


def quiet_until(now: int, quiet: QuietHours, tz: tzinfo) -> int | None:
    """When the quiet window around `now` ends (Unix seconds), or None outside it.

    Wall-clock arithmetic in `tz`, so a window keeps its local hours across DST changes.
    """
    local = datetime.fromtimestamp(now, tz)
    moment = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside = quiet.start <= moment < quiet.end
        end_day = local.date()
    else:  # spans midnight, e.g. 22:00-07:00
        inside = moment >= quiet.start or moment < quiet.end
        end_day = local.date() + timedelta(days=1) if moment >= quiet.start else local.date()
    if not inside:
        return None
    end = datetime.combine(end_day, quiet.end, tzinfo=tz)
    if end.timestamp() <= now:
        # The clocks went back and `now` is in the repeated hour's second pass: the end's
        # first occurrence is behind us, its second one (fold=1) is the one to wait for.
        end = end.replace(fold=1)
    return int(end.timestamp())


def plan_deliveries(
    event: StoredEvent,
    extension: KnownExtension | None,
    routes: Sequence[Route],
    now: int,
) -> list[PlannedDelivery]:
    """One delivery per (matching route, target); held to the end of quiet hours if any."""
    planned: list[PlannedDelivery] = []
    for route in routes:
        if not matches_kind(event.kind, route.events) or not selects(route.extensions, extension):
            continue
        held = quiet_until(now, route.quiet, route.tz) if route.quiet else None
        planned.extend(
            PlannedDelivery(route.name, target.key, target.label, held) for target in route.targets
        )
    return planned
