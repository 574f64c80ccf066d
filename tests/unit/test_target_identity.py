"""A target's identity in the ledger, and how due rows become sends per lane (tables)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from pydantic import ValidationError

from tossd.config.model import Config
from tossd.config.problems import describe_errors
from tossd.config.render import render_effective
from tossd.config.routes import RouteConfig
from tossd.domain import MIB, DeliveryKind, DeliveryState, TargetKind
from tossd.notify.batches import batches_by_lane
from tossd.notify.message import TargetInfo
from tossd.notify.routing import Route, Target
from tossd.notify.targets import build_route
from tossd.store.records import Delivery

HOOK = "json://127.0.0.1:9/hook"
MAIL = "mailtos://me:hunter2@example.com"


def keys(notify: list[Any]) -> list[str]:
    config = RouteConfig.model_validate({"name": "r", "events": ["call"], "notify": notify})
    return [target.key for target in build_route(0, config, UTC).targets]


@pytest.mark.parametrize(
    ("notify", "expected"),
    [
        # A plain URL is known by its place in the route...
        ([HOOK], ["notify[0]"]),
        # ...so correcting its host, port, password or token keeps its identity.
        (["json://127.0.0.1:10/other?token=new"], ["notify[0]"]),
        ([HOOK, MAIL], ["notify[0]", "notify[1]"]),
        # A named target is known by its name wherever it stands and whatever its URL.
        ([{"name": "ops-mail", "url": MAIL}], ["name:ops-mail"]),
        (
            [HOOK, {"name": "ops-mail", "url": "mailtos://me:new@example.org"}],
            ["notify[0]", "name:ops-mail"],
        ),
        # A URL listed twice is one target, told once: the first listing's.
        ([HOOK, HOOK], ["notify[0]"]),
        ([{"name": "a", "url": HOOK}, HOOK], ["name:a"]),
    ],
)
def test_the_identity_of_a_target(notify: list[Any], expected: list[str]) -> None:
    assert keys(notify) == expected


@pytest.mark.parametrize(
    ("notify", "problem"),
    [
        (
            [{"name": "x", "url": HOOK}, {"name": "x", "url": MAIL}],
            "notify: target name 'x' is used twice in this route",
        ),
        ([{"name": "x"}], "notify[0].url: required, but not set"),
        ([{"name": "x", "url": HOOK, "tags": []}], "notify[0].tags: unknown key"),
        ([{"name": "", "url": HOOK}], "notify[0].name: String should have at least 1 character"),
        ([42], "notify[0]: must be a string (in quotes)"),
    ],
)
def test_a_bad_notify_entry_names_its_key(notify: list[Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RouteConfig.model_validate({"name": "r", "events": ["call"], "notify": notify})
    assert describe_errors(caught.value) == [problem]


def test_a_named_targets_url_is_a_secret_in_the_effective_config(tmp_path: Any) -> None:
    config = Config.model_validate(
        {
            "state_dir": str(tmp_path),
            "api": {"key": "k"},
            "route": [{"name": "r", "events": ["call"], "notify": [{"name": "m", "url": MAIL}]}],
        },
        context={"env": {}},
    )
    shown = render_effective(config)
    assert '[[route.notify]]\nname = "m"\nurl = "********"\n' in shown
    assert "hunter2" not in shown
    assert config.route[0].urls() == [MAIL]


INFO = TargetInfo("json", TargetKind.JSON, True, 8 * MIB)


def target(url: str, key: str) -> Target:
    return Target(url, key, url, INFO)


def route(name: str, *targets: Target) -> Route:
    return Route(name, frozenset({"call"}), frozenset(), targets, True, UTC)


def row(row_id: int, route_name: str, key: str, held: int | None = None) -> Delivery:
    return Delivery(
        row_id, row_id, DeliveryKind.EVENT, route_name, key, "label", DeliveryState.PENDING,
        0, 0, 0, held, None, None,
    )  # fmt: skip


SHARED = target(HOOK, "notify[0]")
ROUTES = {
    "a": route("a", SHARED, target(MAIL, "name:mail")),
    "b": route("b", target(HOOK, "notify[0]")),  # the same URL in another route
}


@pytest.mark.parametrize(
    ("due", "lanes", "orphans"),
    [
        # Two routes sharing a URL share its lane (and its breaker): one lane, two sends.
        (
            [row(1, "a", "notify[0]"), row(2, "b", "notify[0]")],
            {SHARED.fingerprint: [[1], [2]]},
            [],
        ),
        # Each URL its own lane, in due order.
        (
            [row(1, "a", "name:mail"), row(2, "a", "notify[0]")],
            {ROUTES["a"].targets[1].fingerprint: [[1]], SHARED.fingerprint: [[2]]},
            [],
        ),
        # Quiet-hours rows of one (route, target) are one digest; plain rows stay single.
        (
            [row(1, "a", "notify[0]", 99), row(2, "a", "notify[0]"), row(3, "a", "notify[0]", 99)],
            {SHARED.fingerprint: [[2], [1, 3]]},
            [],
        ),
        # Digests of two routes to one URL are two sends.
        (
            [row(1, "a", "notify[0]", 9), row(2, "b", "notify[0]", 9)],
            {SHARED.fingerprint: [[1], [2]]},
            [],
        ),
        # A route or a target that is gone: the row is an orphan, not a send.
        ([row(1, "gone", "notify[0]"), row(2, "a", "notify[5]")], {}, [1, 2]),
    ],
)
def test_due_rows_become_batches_per_lane(
    due: list[Delivery], lanes: dict[str, list[list[int]]], orphans: list[int]
) -> None:
    found, lost = batches_by_lane(due, ROUTES)
    assert {
        url: [[r.id for r in b.rows] for b in batches] for url, batches in found.items()
    } == lanes
    assert [r.id for r in lost] == orphans
    for batches in found.values():
        for batch in batches:
            assert batch.target is ROUTES[batch.route.name].target(batch.rows[0].target)


@pytest.mark.parametrize(
    ("due", "max_per_cycle", "batches"),
    [
        # at the limit: one send each
        ([row(1, "a", "notify[0]"), row(2, "a", "notify[0]")], 2, [([1], False), ([2], False)]),
        # over it: one digest of them all
        ([row(i, "a", "notify[0]") for i in (1, 2, 3)], 2, [([1, 2, 3], True)]),
        # counted per route and target: two routes sharing a URL each stay under
        ([row(1, "a", "notify[0]"), row(2, "b", "notify[0]")], 1, [([1], False), ([2], False)]),
        # quiet-hours rows are a digest already and do not count toward a burst
        ([row(1, "a", "notify[0]", 9), row(2, "a", "notify[0]")], 1, [([2], False), ([1], False)]),
    ],
)
def test_a_burst_of_one_route_and_target_is_one_digest(
    due: list[Delivery], max_per_cycle: int, batches: list[tuple[list[int], bool]]
) -> None:
    found, _ = batches_by_lane(due, ROUTES, max_per_cycle)
    assert [([r.id for r in b.rows], b.burst) for b in found[SHARED.fingerprint]] == batches
