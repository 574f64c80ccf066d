"""The one retry rule (tossd.retry): steps, jitter, caps and giving up, as tables."""

from __future__ import annotations

import random

import pytest

from tossd.api.options import ApiOptions
from tossd.config.routes import DeliveryConfig
from tossd.retry import RetryPolicy

NOW = 1_800_000_000

API = ApiOptions(backoff_s=0.5).retry_policy
DELIVERY = DeliveryConfig(backoff_s=30.0, max_backoff_s=3600.0, max_attempts=12).retry_policy


@pytest.mark.parametrize(
    ("failures", "rand", "expected"),
    [
        (1, 1.0, 0.5),  # the first retry waits the base step (full jitter at its top)
        (2, 1.0, 1.0),  # each failure doubles the step
        (4, 0.5, 2.0),  # 0.5 * 2**3 = 4, half of it with rand 0.5
        (11, 1.0, 30.0),  # capped at 30 s: the poll retries next cycle anyway
        (3, 0.0, 0.0),  # full jitter may retry at once
    ],
)
def test_api_backoff_is_exponential_full_jitter_and_capped(
    failures: int, rand: float, expected: float
) -> None:
    assert API.delay(failures, rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("failures", "gives_up"),
    [
        (1, False),  # retries = 3: three more tries after the first failure
        (3, False),  # the third retry is still made
        (4, True),  # the fourth failure is the last
    ],
)
def test_api_gives_up_after_its_retries(failures: int, gives_up: bool) -> None:
    assert API.gives_up(failures) is gives_up


@pytest.mark.parametrize(
    ("failures", "age_s", "rand", "expected"),
    [
        (1, 0, 0.0, 1015),  # half jitter: at least half of the 30 s step
        (1, 0, 1.0, 1030),  # at most the whole step
        (3, 0, 1.0, 1120),  # 30 * 2**2
        (9, 0, 1.0, 1000 + 3600),  # capped at max_backoff_s
        (12, 0, 0.5, None),  # max_attempts reached: dead
        (2, 86400, 0.5, None),  # max_age_s reached: dead, however few the attempts
    ],
)
def test_delivery_schedule(failures: int, age_s: int, rand: float, expected: int | None) -> None:
    now = 1000
    assert (
        DELIVERY.next_attempt(failures=failures, created_at=now - age_s, now=now, rand=rand)
        == expected
    )


def test_a_retry_is_never_sooner_than_a_second() -> None:
    tiny = RetryPolicy(0.01, 1.0, 5, jitter=1.0)
    assert tiny.next_attempt(failures=1, created_at=0, now=50, rand=0.0) == 51


@pytest.mark.parametrize(
    "arguments",
    [
        (0.0, 1.0, 3),  # no base step
        (1.0, 0.0, 3),  # no cap
        (1.0, 1.0, 0),  # never even one attempt
    ],
)
def test_nonsense_policies_are_refused(arguments: tuple[float, float, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        RetryPolicy(*arguments)


def test_randomised_waits_stay_within_half_and_whole_step() -> None:
    """Like arq's next_cron checks: random starting points, the invariant always holds."""
    rng = random.Random(20261204)
    for _ in range(2000):
        failures = rng.randint(1, 11)
        now = rng.randint(0, 2_000_000_000)
        at = DELIVERY.next_attempt(failures=failures, created_at=now, now=now, rand=rng.random())
        assert at is not None
        step = DELIVERY.step(failures)
        assert now + max(1, int(step / 2)) <= at <= now + step


@pytest.mark.parametrize(
    ("failures", "due_at", "expected"),
    [
        # Its time has come.
        (1, NOW, True),
        (1, NOW - 5, True),
        # Due later, within what the n-th retry waits (30 s after the first failure): wait.
        (1, NOW + 30, False),
        # Within the slack past it: still a believable schedule.
        (1, NOW + 30 + 60, False),
        # Further ahead than any retry is scheduled: the clock went back since; send now.
        (1, NOW + 30 + 61, True),
        # The third retry waits up to 120 s: the same distance is believable then.
        (3, NOW + 91, False),
    ],
)
def test_due_now(failures: int, due_at: int, expected: bool) -> None:
    policy = RetryPolicy(base_s=30.0, max_s=3600.0, max_attempts=12, jitter=0.5)
    assert policy.due_now(failures, due_at, NOW, slack_s=60) is expected
