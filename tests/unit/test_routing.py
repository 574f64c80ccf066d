"""Who gets what, and when (tossd.notify.routing): selectors, quiet hours and planned rows."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from tossd.config.routes import QuietHours
from tossd.domain import MIB, EventKind, KnownExtension, StoredEvent, TargetKind
from tossd.notify.message import TargetInfo
from tossd.notify.routing import (
    Route,
    Target,
    plan_deliveries,
    quiet_until,
    selects,
    unmatched_routes,
)
from tossd.store.records import PlannedDelivery

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
NIGHT = QuietHours(time(22, 0), time(7, 0))
OFFICE = QuietHours(time(9, 0), time(17, 0))

FRONT = KnownExtension(
    extensionid=1001, did="+1 (555) 123-4567", alias="Front Desk", startdate=0, enddate=0
)
BARE = KnownExtension(extensionid=1002, did="", alias="", startdate=0, enddate=0)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


# --- selects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "ext", "expected"),
    [
        # No selector: every number.
        ([], FRONT, True),
        # No selector selects even a number tossd does not know (yet).
        ([], None, True),
        # Selectors name numbers, so an unknown number is never one of them.
        (["1001"], None, False),
        # A DID in digits matches the DID the provider punctuated.
        (["15551234567"], FRONT, True),
        # A punctuated DID selector matches too: only the digits count.
        (["+1 555.123.4567"], FRONT, True),
        # Another DID does not.
        (["+1 555 123 0000"], FRONT, False),
        # The extension id, as the string config gives.
        (["1001"], FRONT, True),
        # Another extension's id does not match.
        (["1002"], FRONT, False),
        # The alias, whatever its case.
        (["front desk"], FRONT, True),
        # The alias in capitals.
        (["FRONT DESK"], FRONT, True),
        # Another alias does not match.
        (["Back Office"], FRONT, False),
        # One matching selector among others is enough.
        (["Back Office", "1002", "1001"], FRONT, True),
        # A number without DID or alias is selected by its id only...
        (["1002"], BARE, True),
        # ...never by an empty selector that looks like its empty alias or DID.
        ([""], BARE, False),
        # ...nor by a DID selector (its empty DID has no digits to compare).
        (["15551234567"], BARE, False),
    ],
)
def test_selects(selectors: list[str], ext: KnownExtension | None, expected: bool) -> None:
    assert selects(selectors, ext) is expected


# --- quiet_until --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "quiet", "tz", "expected"),
    [
        # Inside a same-day window: held until its end, that day.
        (utc(2026, 6, 10, 12), OFFICE, UTC, utc(2026, 6, 10, 17)),
        # Before a same-day window: not quiet.
        (utc(2026, 6, 10, 8, 59, 59), OFFICE, UTC, None),
        # After a same-day window: not quiet.
        (utc(2026, 6, 10, 20), OFFICE, UTC, None),
        # Exactly at the start: quiet (the start belongs to the window).
        (utc(2026, 6, 10, 9), OFFICE, UTC, utc(2026, 6, 10, 17)),
        # Exactly at the end: no longer quiet (the end does not).
        (utc(2026, 6, 10, 17), OFFICE, UTC, None),
        # A second before the end: quiet for one more second.
        (utc(2026, 6, 10, 16, 59, 59), OFFICE, UTC, utc(2026, 6, 10, 17)),
        # A window spanning midnight, before midnight: held until tomorrow's end.
        (utc(2026, 6, 10, 23), NIGHT, UTC, utc(2026, 6, 11, 7)),
        # The last second before midnight: still tomorrow's end.
        (utc(2026, 6, 10, 23, 59, 59), NIGHT, UTC, utc(2026, 6, 11, 7)),
        # After midnight: held until today's end.
        (utc(2026, 6, 11, 0), NIGHT, UTC, utc(2026, 6, 11, 7)),
        # After midnight, a second before the end.
        (utc(2026, 6, 11, 6, 59, 59), NIGHT, UTC, utc(2026, 6, 11, 7)),
        # Exactly at the start of a window spanning midnight: quiet.
        (utc(2026, 6, 10, 22), NIGHT, UTC, utc(2026, 6, 11, 7)),
        # Exactly at its end: not quiet.
        (utc(2026, 6, 11, 7), NIGHT, UTC, None),
        # In the daytime gap of a window spanning midnight: not quiet.
        (utc(2026, 6, 11, 12), NIGHT, UTC, None),
        # Local hours, not UTC: 02:00 UTC is 22:00 EDT, the start of New York's night.
        (utc(2026, 6, 11, 2), NIGHT, NY, utc(2026, 6, 11, 11)),
        # 23:00 UTC is 19:00 EDT: quiet in UTC, not in New York.
        (utc(2026, 6, 10, 23), NIGHT, NY, None),
    ],
)
def test_quiet_until(now: int, quiet: QuietHours, tz: tzinfo, expected: int | None) -> None:
    assert quiet_until(now, quiet, tz) == expected


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        # New York springs forward on 8 March 2026 (02:00 EST -> 03:00 EDT): the night that
        # began at 23:00 EST ends at 07:00 EDT, 11:00 UTC, only 8 hours later.
        (utc(2026, 3, 8, 4), NY, utc(2026, 3, 8, 11)),
        # 01:30 EST, just before the jump: still 07:00 EDT.
        (utc(2026, 3, 8, 6, 30), NY, utc(2026, 3, 8, 11)),
        # 03:30 EDT, just after the jump: still 07:00 EDT.
        (utc(2026, 3, 8, 7, 30), NY, utc(2026, 3, 8, 11)),
        # The next night is all EDT: 22:00 EDT -> 07:00 EDT.
        (utc(2026, 3, 9, 2), NY, utc(2026, 3, 9, 11)),
        # New York falls back on 1 November 2026 (02:00 EDT -> 01:00 EST): the night that
        # began at 23:00 EDT ends at 07:00 EST, 12:00 UTC, 10 hours later.
        (utc(2026, 11, 1, 3), NY, utc(2026, 11, 1, 12)),
        # 01:30 EDT, the first pass through the repeated hour: 07:00 EST.
        (utc(2026, 11, 1, 5, 30), NY, utc(2026, 11, 1, 12)),
        # 01:30 EST, the second pass: the same 07:00 EST.
        (utc(2026, 11, 1, 6, 30), NY, utc(2026, 11, 1, 12)),
        # The night before the fall back still ends in EDT: 07:00 EDT on 31 October.
        (utc(2026, 10, 31, 3), NY, utc(2026, 10, 31, 11)),
        # London springs forward on 29 March 2026 (01:00 GMT -> 02:00 BST): 23:00 GMT on the
        # 28th is held until 07:00 BST, 06:00 UTC.
        (utc(2026, 3, 28, 23), LONDON, utc(2026, 3, 29, 6)),
        # 02:30 BST, after the jump: the same 07:00 BST.
        (utc(2026, 3, 29, 1, 30), LONDON, utc(2026, 3, 29, 6)),
        # London falls back on 25 October 2026 (02:00 BST -> 01:00 GMT): 23:00 BST on the
        # 24th is held until 07:00 GMT, 07:00 UTC.
        (utc(2026, 10, 24, 22), LONDON, utc(2026, 10, 25, 7)),
        # 01:30 GMT, the second pass through the repeated hour: 07:00 GMT.
        (utc(2026, 10, 25, 1, 30), LONDON, utc(2026, 10, 25, 7)),
    ],
)
def test_a_night_keeps_its_local_hours_across_dst(now: int, tz: tzinfo, expected: int) -> None:
    assert quiet_until(now, NIGHT, tz) == expected


@pytest.mark.parametrize(
    ("now", "quiet", "tz", "expected"),
    [
        # An end the clocks skip (02:30 on London's spring-forward night does not exist)
        # falls on the instant after the jump, as a report's due time does: 02:30 BST.
        (
            utc(2026, 3, 29, 0, 45),
            QuietHours(time(0, 30), time(1, 30)),
            LONDON,
            utc(2026, 3, 29, 1, 30),
        ),
        # New York's 02:30 on 8 March does not exist either: 03:30 EDT.
        (utc(2026, 3, 8, 6), QuietHours(time(0, 0), time(2, 30)), NY, utc(2026, 3, 8, 7, 30)),
        # An end the clocks repeat, seen from its first pass: its first occurrence (01:30 EDT).
        (utc(2026, 11, 1, 5, 10), QuietHours(time(0, 0), time(1, 30)), NY, utc(2026, 11, 1, 5, 30)),
    ],
)
def test_an_end_the_clocks_skip_or_repeat(
    now: int, quiet: QuietHours, tz: tzinfo, expected: int
) -> None:
    assert quiet_until(now, quiet, tz) == expected


@pytest.mark.parametrize(
    ("now", "quiet", "expected"),
    [
        # 01:10 EST, the second pass, inside 00:00-01:30: held until 01:30 EST (06:30 UTC),
        # not until 01:30 EDT (05:30 UTC), 40 minutes ago.
        (utc(2026, 11, 1, 6, 10), QuietHours(time(0, 0), time(1, 30)), utc(2026, 11, 1, 6, 30)),
        # The same with a window spanning midnight.
        (utc(2026, 11, 1, 6, 10), QuietHours(time(22, 0), time(1, 30)), utc(2026, 11, 1, 6, 30)),
    ],
)
def test_the_second_pass_through_a_repeated_end_is_held(
    now: int, quiet: QuietHours, expected: int
) -> None:
    until = quiet_until(now, quiet, NY)
    assert until is not None
    assert until > now
    assert until == expected


def _is_inside(moment: time, quiet: QuietHours) -> bool:
    if quiet.start < quiet.end:
        return quiet.start <= moment < quiet.end
    return moment >= quiet.start or moment < quiet.end


def _skipped(day: date, wall: time, tz: tzinfo) -> bool:
    """Whether the clocks skip `wall` on `day` (it does not survive a round trip)."""
    instant = datetime.combine(day, wall, tzinfo=tz).timestamp()
    return datetime.fromtimestamp(instant, tz).time() != wall


def _dst_days(tz: tzinfo, first: date, last: date) -> Iterator[date]:
    day = first
    while day < last:
        noon = datetime.combine(day, time(12), tzinfo=tz)
        if noon.utcoffset() != (noon + timedelta(days=1)).utcoffset():
            yield day + timedelta(days=1)
        day += timedelta(days=1)


def test_random_instants_are_held_exactly_while_quiet_until_the_local_end() -> None:
    rng = random.Random(8675309)
    first, last = date(2024, 1, 1), date(2031, 1, 1)
    lo, hi = utc(2024, 1, 1, 0), utc(2031, 1, 1, 0)
    zones: list[tzinfo] = [NY, LONDON, SYDNEY, UTC]
    changes = {tz: list(_dst_days(tz, first, last)) for tz in zones if tz is not UTC}
    checked_inside = 0
    for _ in range(6000):
        tz = rng.choice(zones)
        if tz in changes and rng.random() < 0.5:
            # Half the instants fall on a day the clocks change, where the edges are.
            day = rng.choice(changes[tz])
            start = int(datetime.combine(day, time(0), tzinfo=tz).timestamp())
            now = start + rng.randrange(-3 * 3600, 27 * 3600)
        else:
            now = rng.randrange(lo, hi)
        begin, end = rng.sample(range(0, 24 * 60, 15), 2)
        quiet = QuietHours(time(*divmod(begin, 60)), time(*divmod(end, 60)))
        local = datetime.fromtimestamp(now, tz)
        until = quiet_until(now, quiet, tz)
        inside = _is_inside(local.time(), quiet)
        assert (until is None) is not inside, (now, quiet, tz)
        if until is None:
            continue
        end_day = datetime.fromtimestamp(until, tz).date()
        checked_inside += 1
        assert now < until, (now, quiet, tz)
        # At most a day of wall time, which a fall-back day stretches to 25 hours.
        assert until - now <= 25 * 3600, (now, quiet, tz)
        # At `until` the window is over.
        assert quiet_until(until, quiet, tz) is None, (now, quiet, tz)
        wall = datetime.fromtimestamp(until, tz).time()
        if _skipped(end_day, quiet.end, tz):
            # An end the clocks skip lands after the jump, by the length of the jump.
            assert (
                quiet.end
                < wall
                <= (datetime.combine(end_day, quiet.end) + timedelta(hours=1)).time()
            )
        else:
            assert wall == quiet.end, (now, quiet, tz)
    # The inside branch was really exercised.
    assert checked_inside > 1000


# --- plan_deliveries ----------------------------------------------------------------------


def target(url: str, key: str, label: str) -> Target:
    return Target(url, key, label, TargetInfo("json", TargetKind.JSON, True, 8 * MIB))


HOOK = target("json://127.0.0.1:9/hook", "notify[0]", "json hook")
MAIL = target("mailto://user:secret@example.com", "name:mail", "mail to user")
PAGER = target("json://127.0.0.1:9/pager", "notify[1]", "pager")


def route(
    name: str,
    events: set[str],
    targets: tuple[Target, ...],
    *,
    extensions: frozenset[str] = frozenset(),
    quiet: QuietHours | None = None,
    tz: tzinfo = NY,
) -> Route:
    return Route(
        name=name,
        events=frozenset(events),
        extensions=extensions,
        targets=targets,
        attach_audio=False,
        tz=tz,
        quiet=quiet,
    )


def stored(kind: EventKind) -> StoredEvent:
    return StoredEvent(
        id=11,
        kind=kind,
        extensionid=FRONT.extensionid,
        identity=f"{kind.value}:1",
        occurred_at=utc(2026, 6, 10, 15),
        recorded_at=utc(2026, 6, 10, 15),
        announce=True,
        payload={},
    )


#: 11:00 EDT: outside the New York night.
DAYTIME = utc(2026, 6, 10, 15)
#: 23:00 EDT: inside the New York night, which ends at 07:00 EDT (11:00 UTC) tomorrow.
NIGHTTIME = utc(2026, 6, 11, 3)


@pytest.mark.parametrize(
    ("kind", "ext", "routes", "now", "expected"),
    [
        # No route: nothing planned.
        (EventKind.SMS, FRONT, [], DAYTIME, []),
        # A route that does not listen to this kind plans nothing.
        (EventKind.CALL, FRONT, [route("texts", {"sms"}, (HOOK,))], DAYTIME, []),
        # A `call` route gets a missed call too (once, not twice).
        (
            EventKind.MISSED_CALL,
            FRONT,
            [route("calls", {"call"}, (HOOK,))],
            DAYTIME,
            [PlannedDelivery("calls", HOOK.key, "json hook", None)],
        ),
        # A `missed_call` route does not get an answered call.
        (EventKind.CALL, FRONT, [route("missed", {"missed_call"}, (HOOK,))], DAYTIME, []),
        # One row per target, in the route's order, keyed by its identity, never by URL.
        (
            EventKind.SMS,
            FRONT,
            [route("texts", {"sms"}, (HOOK, MAIL))],
            DAYTIME,
            [
                PlannedDelivery("texts", HOOK.key, "json hook", None),
                PlannedDelivery("texts", MAIL.key, "mail to user", None),
            ],
        ),
        # Quiet hours hold every row of the route until the window ends.
        (
            EventKind.VOICEMAIL,
            FRONT,
            [route("vm", {"voicemail"}, (HOOK, MAIL), quiet=NIGHT)],
            NIGHTTIME,
            [
                PlannedDelivery("vm", HOOK.key, "json hook", utc(2026, 6, 11, 11)),
                PlannedDelivery("vm", MAIL.key, "mail to user", utc(2026, 6, 11, 11)),
            ],
        ),
        # Quiet hours outside their window hold nothing.
        (
            EventKind.VOICEMAIL,
            FRONT,
            [route("vm", {"voicemail"}, (HOOK,), quiet=NIGHT)],
            DAYTIME,
            [PlannedDelivery("vm", HOOK.key, "json hook", None)],
        ),
        # Two matching routes: rows of each, in route order; quiet hours are per route.
        (
            EventKind.MISSED_CALL,
            FRONT,
            [
                route("calls", {"call"}, (HOOK,), quiet=NIGHT),
                route("missed", {"missed_call", "sms"}, (PAGER,)),
            ],
            NIGHTTIME,
            [
                PlannedDelivery("calls", HOOK.key, "json hook", utc(2026, 6, 11, 11)),
                PlannedDelivery("missed", PAGER.key, "pager", None),
            ],
        ),
        # A route for other numbers plans nothing; one for this number's alias does.
        (
            EventKind.SMS,
            FRONT,
            [
                route("office", {"sms"}, (HOOK,), extensions=frozenset({"Back Office"})),
                route("front", {"sms"}, (PAGER,), extensions=frozenset({"front desk"})),
            ],
            DAYTIME,
            [PlannedDelivery("front", PAGER.key, "pager", None)],
        ),
        # An unknown number reaches only the routes without selectors.
        (
            EventKind.SMS,
            None,
            [
                route("front", {"sms"}, (HOOK,), extensions=frozenset({"1001"})),
                route("all", {"sms"}, (PAGER,)),
            ],
            DAYTIME,
            [PlannedDelivery("all", PAGER.key, "pager", None)],
        ),
    ],
)
def test_plan_deliveries(
    kind: EventKind,
    ext: KnownExtension | None,
    routes: list[Route],
    now: int,
    expected: list[PlannedDelivery],
) -> None:
    assert plan_deliveries(stored(kind), ext, routes, now) == expected


@pytest.mark.parametrize(
    ("extensions", "known", "unmatched"),
    [
        (frozenset(), [], []),  # no selector: every number, even when none is known yet
        (frozenset({"Front Desk"}), [FRONT, BARE], []),  # an alias that exists
        (frozenset({"15551234567"}), [FRONT], []),  # a DID without its punctuation
        (frozenset({"1002"}), [FRONT, BARE], []),  # an extension id
        (frozenset({"Fornt Desk"}), [FRONT, BARE], ["ops"]),  # a typo: can never fire
        (frozenset({"Front Desk"}), [], ["ops"]),  # nothing known (yet) that it names
        (frozenset({"Nobody", "1001"}), [FRONT], []),  # one of its selectors matches
    ],
)
def test_routes_that_can_never_fire(
    extensions: frozenset[str], known: list[KnownExtension], unmatched: list[str]
) -> None:
    routes = [route("ops", {"call"}, (HOOK,), extensions=extensions), route("all", {"sms"}, ())]
    assert unmatched_routes(routes, known) == unmatched
