"""Replies mixing good call records with hostile ones, in any order and number: the client
keeps exactly the good ones, in order, or (with no good one) raises ApiMalformedReply;
never another exception, never a hostile value in what it returns."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tossd.api.client import Client
from tossd.errors import ApiMalformedReply

NOW = 1_800_000_000
YEAR_10000 = 253402300800

#: Values no numeric field of a call record may hold, each tried in every such field.
POISON = st.sampled_from(
    [
        2**63,
        2**53 + 1,
        -(2**63),
        "1e30",
        "abc",
        "NaN",
        "INF",
        [1, 2],
        {"nested": True},
        "9" * 400,
    ]
)
GOOD = st.fixed_dictionaries(
    {
        "startdate": st.integers(NOW - 10**6, NOW).map(lambda t: t if t % 2 else str(t)),
        "extensionid": st.integers(1, 10**6),
        "callernum": st.from_regex(r"\+1555[0-9]{7}", fullmatch=True),
        "seconds": st.integers(0, 10**4),
        "duration": st.integers(0, 10**3),
    }
)
NUMERIC_FIELDS = ("startdate", "extensionid", "seconds", "duration")


#: ... and values only a time, a duration or an extension id may not hold.
POISON_FOR = {
    "startdate": st.sampled_from([YEAR_10000, -1]),
    "seconds": st.sampled_from([-1, 2**31]),
    "duration": st.sampled_from([-1, 2**31]),
    "extensionid": st.sampled_from([-1, 2**31]),
}


@st.composite
def poisoned(draw: st.DrawFn) -> dict[str, Any]:
    record = dict(draw(GOOD))
    field = draw(st.sampled_from(NUMERIC_FIELDS))
    record[field] = draw(st.one_of(POISON, POISON_FOR[field]))
    return record


class Reply:
    """A transport double answering one page, then the empty list."""

    def __init__(self, page: list[Any]) -> None:
        self.page = page

    async def call(self, method: str, params: Mapping[str, object]) -> Any:
        return self.page if params.get("page") == 1 else []

    async def aclose(self) -> None:
        return None


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(
        st.one_of(GOOD.map(lambda r: ("good", r)), poisoned().map(lambda r: ("bad", r))),
        max_size=12,
    )
)
def test_good_records_survive_any_mix_of_hostile_ones(
    items: list[tuple[str, dict[str, Any]]], tally: Counter[str]
) -> None:
    tally["records: hostile mixes"] += 1
    page = [record for _, record in items]
    wanted = [int(r["startdate"]) for kind, r in items if kind == "good"]
    client = Client(Reply(page))
    try:
        got = asyncio.run(client.call_records(startdate=0, enddate=NOW))
    except ApiMalformedReply:
        assert not wanted and page
        return
    assert [r.startdate for r in got] == wanted
    assert all(0 <= r.startdate <= NOW and 0 < r.extensionid < 2**31 for r in got)
