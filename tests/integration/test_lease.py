"""The poll leader's lock and term (tossd.store.lease): one holder at a time, terms that only
grow, stale terms refused at commit, a lost session or a frozen leader replaced. The lock is
PostgreSQL's (several nodes); on SQLite one daemon leads alone, through the same rows."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from support.wait import wait_until

from tossd.domain import EventKind, NewEvent, Stream
from tossd.errors import LeadershipLost
from tossd.store.lease import LEASE_S, LeaderLock
from tossd.store.store import Store

NOW = 1_800_000_000


@pytest.fixture
def store(any_store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return any_store


@pytest.fixture
def locks(store_url: str, store: Store) -> Iterator[list[LeaderLock]]:
    """Factory-by-list: append as many nodes' locks as a test needs; all released after."""
    made: list[LeaderLock] = []
    yield made
    for lock in made:
        lock.release()


def node(store_url: str, locks: list[LeaderLock], name: str) -> LeaderLock:
    lock = LeaderLock(store_url, name, now=NOW)
    locks.append(lock)
    return lock


def sms(identity: str) -> NewEvent:
    return NewEvent(EventKind.SMS, 7, identity, NOW - 60, True, {"message": "hi"})


def postgres_only(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("several nodes share only a PostgreSQL store")


def test_a_lone_node_leads_and_renews(store_url: str, locks: list[LeaderLock]) -> None:
    a = node(store_url, locks, "a")
    assert a.acquire() == 1
    assert a.confirm()
    a.beat(NOW)
    silence = a.silence_s()
    assert silence is not None
    assert silence >= 0


async def took_over(lock: LeaderLock, timeout: float = 10) -> int | None:
    """Try as a standby does until the duty is taken; the term won."""
    await wait_until(lambda: lock.acquire() is not None, timeout=timeout, what="a takeover")
    return lock.term


async def test_one_holder_at_a_time_and_terms_grow(store_url: str, locks: list[LeaderLock]) -> None:
    postgres_only(store_url)
    a, b = node(store_url, locks, "a"), node(store_url, locks, "b")
    assert a.acquire() == 1
    assert b.acquire() is None
    assert a.confirm()
    a.release()
    # The server ends a closed session a moment later: the standby's next look takes over.
    assert await took_over(b) == 2
    assert a.acquire() is None


async def test_a_stale_term_cannot_commit_a_poll(
    store_url: str, store: Store, locks: list[LeaderLock]
) -> None:
    """The fence: a leader that lost the duty (term 1) while a newer one (term 2) took it has
    its poll refused, and nothing of the batch is stored."""
    a = node(store_url, locks, "a")
    assert a.acquire() == 1
    store.fenced_by(lambda: 1)
    store.record_batch(7, Stream.SMS, [sms("sms:1")], 10, NOW)
    a.release()
    b = node(store_url, locks, "b")
    assert await took_over(b) == 2
    with pytest.raises(LeadershipLost):
        store.record_batch(7, Stream.SMS, [sms("sms:2")], 20, NOW)
    with pytest.raises(LeadershipLost):
        store.record_failure(7, Stream.SMS, "late", NOW)
    state = store.poll_state(7, Stream.SMS)
    assert state is not None
    assert (state.watermark, store.count_events()) == (10, 1)
    store.fenced_by(lambda: None)  # a standby: not even a poll state to poll with
    with pytest.raises(LeadershipLost):
        store.poll_state(7, Stream.SMS)


async def test_a_terminated_session_loses_the_duty(store_url: str, locks: list[LeaderLock]) -> None:
    postgres_only(store_url)
    a, b = node(store_url, locks, "a"), node(store_url, locks, "b")
    assert a.acquire() == 1
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(session::int) FROM leadership WHERE duty='poll'"
                )
            )
    finally:
        engine.dispose()
    assert not a.confirm()
    assert await took_over(b) == 2


async def test_a_frozen_leader_is_replaced_once_its_lease_ran_out(
    store_url: str, locks: list[LeaderLock]
) -> None:
    """A leader that stops renewing (SIGSTOP) keeps its session and so the lock: the standby
    ends that session once the lease (database clock) is LEASE_S old, then takes over."""
    postgres_only(store_url)
    a, b = node(store_url, locks, "a"), node(store_url, locks, "b")
    assert a.acquire() == 1
    frozen_at = time.monotonic()
    assert b.acquire() is None  # the lease is fresh: the standby waits
    terms: list[int | None] = []

    def taken() -> bool:
        terms.append(b.acquire())
        return terms[-1] is not None

    await wait_until(taken, timeout=LEASE_S + 10, interval=0.2, what="the standby's takeover")
    assert terms[-1] == 2
    # Not before the lease ran out (it was renewed at `acquire`, just before `frozen_at`).
    assert time.monotonic() - frozen_at >= LEASE_S - 0.5
    assert not a.confirm()  # thawed: it finds itself replaced
