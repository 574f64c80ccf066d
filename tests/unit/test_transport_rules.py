"""Pure rules of the client: backoff, the shared request budget, paging, key detection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from support.clock import ManualClock

from tossd.api.client import MAX_PAGES, Client
from tossd.api.transport import RequestBudget, mentions_key
from tossd.errors import ApiMalformedReply


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


async def test_budget_allows_a_burst_then_the_rate() -> None:
    clock = ManualClock(100.0)
    budget = RequestBudget(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        await budget.acquire()
    # 10 tokens of burst, then 20 more at 10/s: two seconds of waiting.
    assert clock.now - 100.0 == pytest.approx(2.0)


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
    caller = PagedCaller([[sms(1), sms(2)], {"0": sms(3)}])
    texts = await Client(caller).sms_get(did="+1666", startdate=0, enddate=10)
    assert [t.smsid for t in texts] == ["1", "2", "3"]
    assert caller.asked == [1, 2, 3]


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
