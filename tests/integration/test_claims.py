"""A sender's claims on ledger rows (tossd.notify.claims over Ledger.claim), as tables: who
holds a row, until when, and what another sender gets; on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.clock import ManualClock

from tossd.domain import DeliveryKind
from tossd.notify.claims import CLAIM_SLACK_S, Claims
from tossd.store.ledger import Ledger
from tossd.store.records import Delivery, PlannedDelivery
from tossd.store.store import Store

NOW = 1_800_000_000
DEADLINE_S = 10.0
#: How long a claim lasts: the send deadline, a second, and the slack.
HOLD_S = int(DEADLINE_S) + 1 + CLAIM_SLACK_S


@pytest.fixture
def ledger(store_url: str, tmp_path: Path) -> Iterator[Ledger]:
    with Store.open(store_url, audio_dir=tmp_path / "audio") as store:
        yield store.ledger()


def add_rows(ledger: Ledger, pairs: list[tuple[str, str]]) -> list[Delivery]:
    """One owed report row per (route, target), due at NOW."""
    ids = [
        row_id
        for route, target in pairs
        for row_id in ledger.add(
            DeliveryKind.REPORT, [PlannedDelivery(route, target, target)], "{}", NOW
        )
    ]
    return ledger.rows(ids)


@pytest.mark.parametrize(
    ("holder", "until", "later_s", "won"),
    [
        (None, None, 0, True),  # nobody holds it: taken
        ("other", NOW + HOLD_S, 0, False),  # another sender holds it: left to it
        ("other", NOW + HOLD_S, HOLD_S - 1, False),  # ... until the last second of its claim
        ("other", NOW + HOLD_S, HOLD_S, True),  # a claim that ran out (its sender died): taken
        ("other", NOW + HOLD_S, 3600, True),  # long expired: taken
    ],
)
def test_who_gets_a_row(
    ledger: Ledger, holder: str | None, until: int | None, later_s: int, won: bool
) -> None:
    [row] = add_rows(ledger, [("r", "notify[0]")])
    if holder is not None and until is not None:
        assert ledger.claim([row.id], holder, until, NOW) == [row.id]
    claims = Claims(ledger, DEADLINE_S, ManualClock(NOW + later_s))
    assert claims.take([[row]]) == ([[row]] if won else [])


def test_a_claim_lasts_past_the_send_deadline_and_is_renewed_before_the_send(
    ledger: Ledger,
) -> None:
    [row] = add_rows(ledger, [("r", "notify[0]")])
    clock = ManualClock(NOW)
    mine, other = Claims(ledger, DEADLINE_S, clock), Claims(ledger, DEADLINE_S, clock)
    assert mine.take([[row]]) == [[row]]
    clock.now += HOLD_S - 1  # the row waited in its lane almost as long as the claim lasts
    assert other.take([[row]]) == []
    assert mine.renew([row.id])  # renewed right before the send: a full hold from now
    clock.now += HOLD_S - 1
    assert other.take([[row]]) == []
    clock.now += 1  # expired, its sender silent: the first to ask gets it, and only it
    assert other.take([[row]]) == [[row]]
    assert not mine.renew([row.id])


def test_one_renewal_extends_every_row_still_held(ledger: Ledger) -> None:
    """A backlog claimed at once runs out at once: the first renewal extends all of it (one
    statement), so the rows behind it need none of their own; rows settled are left out."""
    rows = add_rows(ledger, [("r", f"notify[{i}]") for i in range(4)])
    clock = ManualClock(NOW)
    mine, other = Claims(ledger, DEADLINE_S, clock), Claims(ledger, DEADLINE_S, clock)
    assert mine.take([rows]) == [rows]
    mine.settled([rows[3].id])  # its result was recorded: nothing of it to renew
    ledger.mark_sent([rows[3].id], NOW, owner=mine.owner)
    clock.now += HOLD_S - 1
    assert mine.renew([rows[0].id])
    clock.now += HOLD_S - 1
    # Past the first claim's end: rows 1 and 2 were extended with row 0, so still held.
    assert other.take([rows[1:3]]) == []
    assert mine.renew([rows[1].id, rows[2].id])


def test_a_lost_claim_is_not_renewed_and_a_released_row_is_free_at_once(ledger: Ledger) -> None:
    rows = add_rows(ledger, [("r", "notify[0]"), ("r", "notify[1]")])
    clock = ManualClock(NOW)
    mine, other = Claims(ledger, DEADLINE_S, clock), Claims(ledger, DEADLINE_S, clock)
    assert mine.take([rows]) == [rows]
    clock.now += HOLD_S  # expired: another sender takes one of them
    assert other.take([rows[:1]]) == [rows[:1]]
    assert not mine.renew([r.id for r in rows])  # part of the batch is gone: do not send
    mine.release([rows[1].id])
    assert other.take([rows[1:]]) == [rows[1:]]  # released rows need no expiry


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        ([], ["a/notify[0]", "a/notify[1]", "b/notify[0]"]),  # nothing held back
        ([("a", "notify[0]")], ["a/notify[1]", "b/notify[0]"]),  # one target's breaker is open
        # A URL two routes share has one lane: both its (route, target) pairs are skipped.
        ([("a", "notify[0]"), ("b", "notify[0]")], ["a/notify[1]"]),
        ([("c", "notify[0]")], ["a/notify[0]", "a/notify[1]", "b/notify[0]"]),  # unknown pair
    ],
)
def test_due_rows_leave_out_targets_that_take_no_send_now(
    ledger: Ledger, skip: list[tuple[str, str]], expected: list[str]
) -> None:
    add_rows(ledger, [("a", "notify[0]")] * 3 + [("a", "notify[1]"), ("b", "notify[0]")])
    due = ledger.due(NOW, skip=skip)
    assert sorted({f"{r.route}/{r.target}" for r in due}) == expected


def test_a_held_backlog_does_not_fill_the_due_limit(ledger: Ledger) -> None:
    """Rows behind an open breaker, more than one read takes, hide no other target's rows."""
    add_rows(ledger, [("hung", "notify[0]")] * 5 + [("hook", "notify[0]")])
    assert {r.route for r in ledger.due(NOW, limit=3)} == {"hung"}  # what skip is for
    assert [r.route for r in ledger.due(NOW, limit=3, skip=[("hung", "notify[0]")])] == ["hook"]


def test_a_row_being_claimed_elsewhere_is_skipped_not_waited_for(
    ledger: Ledger, store_url: str
) -> None:
    """PostgreSQL: while another node's transaction holds row 1 (claiming it), a claim of
    rows 1 and 2 takes row 2 at once (FOR UPDATE SKIP LOCKED) instead of waiting."""
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: nothing to skip")
    first, second = add_rows(ledger, [("r", "a"), ("r", "b")])
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as other:
            other.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            other.execute(
                sa.text("SELECT id FROM deliveries WHERE id = :id FOR UPDATE"), {"id": first.id}
            )
            assert ledger.claim([first.id, second.id], "me", NOW + HOLD_S, NOW) == [second.id]
    finally:
        engine.dispose()
    assert ledger.claim([first.id], "me", NOW + HOLD_S, NOW) == [first.id]
