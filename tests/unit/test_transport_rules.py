"""Pure rules of the client: backoff, the shared request budget, paging, key detection."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from support.clock import ManualClock

from tossd.api.budget import RequestBudget
from tossd.api.client import MAX_PAGES, Client
from tossd.api.refusals import mentions_key, refusal
from tossd.errors import (
    ApiKeyRejected,
    ApiMalformedReply,
    ApiMissingParameter,
    ApiRateLimited,
    ApiRejected,
    ApiUnsupported,
)


@pytest.mark.parametrize(
    ("msgs", "fatal"),
    [
        (("Invalid apikey",), True),
        (("API Key not valid on this server",), True),
        (("Required value startdate not set or is empty",), False),
        ((), False),
    ],
)
def test_key_messages_are_fatal(msgs: tuple[str, ...], fatal: bool) -> None:
    assert mentions_key(msgs) is fatal


async def test_budget_spaces_requests_without_a_burst() -> None:
    clock = ManualClock(100.0)
    budget = RequestBudget(10.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(30):
        await budget.acquire()
        starts.append(clock.now)
    # The first at once, then one every 0.1 s: 2.9 s for 30, never 11 within one second.
    assert clock.now - 100.0 == pytest.approx(2.9)
    assert all(later - earlier >= 0.1 - 1e-9 for earlier, later in itertools.pairwise(starts))


async def test_budget_after_a_quiet_spell_still_does_not_burst() -> None:
    clock = ManualClock(100.0)
    budget = RequestBudget(10.0, clock=clock, sleep=clock.sleep)
    await budget.acquire()
    await clock.sleep(60.0)  # a minute of quiet saves no tokens up
    for _ in range(10):
        await budget.acquire()
    assert clock.now - 160.0 == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("msgs", "error", "parameter"),
    [
        # The one documented wording: a parameter left out (here, an account-wide query).
        (("Required value extensionid not set or is empty",), ApiMissingParameter, "extensionid"),
        (("Required value did not set or is empty",), ApiMissingParameter, "did"),
        # A missing key is about the key, not a parameter to add.
        (("Required value apikey not set or is empty",), ApiKeyRejected, ""),
        (("Invalid apikey",), ApiKeyRejected, ""),
        # Refusals over a budget are transient: retried with backoff, not fatal.
        (("Rate limit exceeded: 10 requests per second",), ApiRateLimited, ""),
        (("Too many requests for this key",), ApiRateLimited, ""),
        # A method or feature the account does not have.
        (("Unknown method smsGet",), ApiUnsupported, ""),
        (("SMS is not enabled on this account",), ApiUnsupported, ""),
        # Anything else is a plain refusal, retried on the next poll.
        (("Temporary failure, please try again",), ApiRejected, ""),
        ((), ApiRejected, ""),
    ],
)
def test_refusals_by_wording(msgs: tuple[str, ...], error: type, parameter: str) -> None:
    found = refusal("m", msgs, "; ".join(msgs))
    assert type(found) is error
    assert getattr(found, "parameter", "") == parameter
    assert found.message.startswith("m: ")


class PagedCaller:
    """A transport double that serves fixed pages (or ignores `page` altogether)."""

    def __init__(self, pages: list[Any], *, ignore_page: bool = False) -> None:
        self.pages = pages
        self.ignore_page = ignore_page
        self.asked: list[int] = []

    async def call(self, method: str, params: Mapping[str, object]) -> Any:
        page = int(str(params["page"]))
        self.asked.append(page)
        if self.ignore_page:
            return self.pages[0]
        return self.pages[page - 1] if page <= len(self.pages) else []

    async def aclose(self) -> None:
        return None


def sms(smsid: int) -> dict[str, Any]:
    return {"smsid": smsid, "source": "+1555", "destination": "+1666", "timestamp": smsid}


async def test_paging_stops_at_an_empty_page() -> None:
    caller = PagedCaller([[sms(1), sms(2)], {"0": sms(3), "1": sms(4)}])
    texts = await Client(caller).sms_get(did="+1666", startdate=0, enddate=10)
    assert [t.smsid for t in texts] == ["1", "2", "3", "4"]
    assert caller.asked == [1, 2, 3]


async def test_paging_stops_at_a_short_page_once_the_page_size_is_known() -> None:
    caller = PagedCaller([[sms(1)], [sms(2)]])
    client = Client(caller)
    await client.sms_get(did="+1666", startdate=0, enddate=10)
    assert caller.asked == [1, 2, 3]  # page 2 followed page 1: pages hold at least 1
    caller.pages = [[sms(1), sms(2)], [sms(3), sms(4)], [sms(5)]]
    caller.asked.clear()
    texts = await client.sms_get(did="+1666", startdate=0, enddate=10)
    assert [t.smsid for t in texts] == ["1", "2", "3", "4", "5"]
    assert caller.asked == [1, 2, 3]  # pages hold 2: page 3 is short, the last one
    caller.pages = [[sms(4)]]
    caller.asked.clear()
    await client.sms_get(did="+1666", startdate=0, enddate=10)
    assert caller.asked == [1]


async def test_paging_stops_when_the_server_ignores_page() -> None:
    caller = PagedCaller([[sms(1), sms(2)]], ignore_page=True)
    texts = await Client(caller).sms_get(did="+1666", startdate=0, enddate=10)
    assert [t.smsid for t in texts] == ["1", "2"]
    assert caller.asked == [1, 2]
    assert MAX_PAGES >= 100


async def test_data_of_the_wrong_shape_is_malformed() -> None:
    caller = PagedCaller([[{"source": "no id"}]])
    with pytest.raises(ApiMalformedReply) as caught:
        await Client(caller).sms_get(did="+1666", startdate=0, enddate=10)
    assert "smsGet" in caught.value.message and "smsid" in caught.value.message
