"""Hostile records at the client's edge (tossd.api.models and tossd.api.base), as tables:
impossible dates and integers are malformed records, wrong shapes are malformed replies,
one bad record never hides the good ones, and paging never stops silently."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from structlog.testing import capture_logs

from tossd.api.client import Client
from tossd.api.models import CallRecord, Extension, Sms, Voicemail
from tossd.errors import ApiMalformedReply

NOW = 1_800_000_000
YEAR_10000 = 253402300800
#: The latest time a record may carry (3000-01-01 UTC, `tossd.api.models.MAX_TIMESTAMP`).
MAX_TIMESTAMP = 32503680000


def call(startdate: Any = NOW - 60, **fields: Any) -> dict[str, Any]:
    return {"startdate": startdate, "extensionid": 7, "callernum": "+1555", **fields}


class Pages:
    """A transport double serving fixed replies, page after page (then empty lists)."""

    def __init__(self, *replies: Any, endless: Callable[[int], Any] | None = None) -> None:
        self.replies = list(replies)
        self.endless = endless
        self.asked = 0

    async def call(self, method: str, params: Mapping[str, object]) -> Any:
        self.asked += 1
        if self.endless is not None:
            return self.endless(self.asked)
        page = int(str(params.get("page", 1)))
        return self.replies[page - 1] if page <= len(self.replies) else []

    async def aclose(self) -> None:
        return None


async def calls_of(*replies: Any) -> list[CallRecord]:
    return await Client(Pages(*replies)).call_records(startdate=0, enddate=NOW)


@pytest.mark.parametrize(
    "record",
    [
        # Year 10000: no time zone could show it (`ValueError: year 10000` downstream).
        call(startdate=YEAR_10000),
        # Just past the bound.
        call(startdate=MAX_TIMESTAMP + 1),
        # A negative time is no call's.
        call(startdate=-5),
        # Not a number at all.
        call(startdate="abc"),
        # 1e30 coerces to an int far past any column.
        call(seconds="1e30"),
        # 2**63 overflows SQLite's INTEGER and PostgreSQL's BIGINT.
        call(duration=2**63),
        # An extension id past PostgreSQL's INTEGER column.
        call(extensionid=2**31),
        call(extensionid="9223372036854775808"),
        # Infinity spelled as PHP does.
        call(seconds="INF"),
    ],
)
async def test_an_impossible_value_is_one_malformed_record(record: dict[str, Any]) -> None:
    # Alone in its reply: the reply is malformed (a failed poll), never an empty success.
    with pytest.raises(ApiMalformedReply) as caught:
        await calls_of([record])
    assert caught.value.message.startswith("callRecords: unexpected data at 0.")
    # Beside a good record: skipped and logged once, the good one kept.
    with capture_logs() as logs:
        kept = await calls_of([record, call(startdate=NOW - 5)])
    assert [r.startdate for r in kept] == [NOW - 5]
    (line,) = [e for e in logs if e["event"] == "api.records_skipped"]
    assert line["skipped"] == 1 and line["kept"] == 1 and line["method"] == "callRecords"
    assert len(line["excerpt"]) <= 120


@pytest.mark.parametrize(
    ("startdate", "expected"),
    [
        # The latest plausible date is kept as it is.
        (MAX_TIMESTAMP, MAX_TIMESTAMP),
        # A numeric string and a float-looking string still mean their integer.
        (str(NOW), NOW),
        (f"{NOW}.0", NOW),
    ],
)
async def test_good_times_survive(startdate: Any, expected: int) -> None:
    (record,) = await calls_of([call(startdate=startdate)])
    assert record.startdate == expected


@pytest.mark.parametrize(
    ("enddate", "expected"),
    [
        # A "forever" enddate (9999-12-31) is clamped, not refused: the number stays polled.
        (253402214400, MAX_TIMESTAMP),
        ("0", 0),
    ],
)
def test_extension_dates_are_clamped_not_refused(enddate: Any, expected: int) -> None:
    ext = Extension.model_validate({"extensionid": 1, "enddate": enddate})
    assert ext.enddate == expected


def test_an_absurd_extension_date_is_still_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        Extension.model_validate({"extensionid": 1, "startdate": 2**64})


@pytest.mark.parametrize(
    "data",
    [
        # One bare record where a list is expected.
        call(),
        # A string, a number, a boolean.
        "nothing here",
        17,
        True,
        # An object whose keys are no PHP list indexes.
        {"foo": "bar"},
        # A list of things that are no records.
        ["x", "y"],
    ],
)
async def test_a_wrong_shape_is_a_malformed_reply(data: Any) -> None:
    with pytest.raises(ApiMalformedReply) as caught:
        await calls_of(data)
    assert caught.value.message.startswith("callRecords: ")
    assert len(caught.value.excerpt) <= 120


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # The documented PHP array with integer keys is a list.
        ({"0": call(NOW - 2), "1": call(NOW - 1)}, [NOW - 2, NOW - 1]),
        # An empty object, null and "" are the empty list.
        ({}, []),
        (None, []),
        ("", []),
    ],
)
async def test_php_lists_still_read(data: Any, expected: list[int]) -> None:
    assert [r.startdate for r in await calls_of(data)] == expected


async def test_a_junk_second_page_fails_the_listing() -> None:
    # Before, a page that was no list ended paging: the records past page 1 were lost.
    with pytest.raises(ApiMalformedReply):
        await calls_of([call(NOW - 2)], "<html>oops</html>")
    with pytest.raises(ApiMalformedReply):
        await calls_of([call(NOW - 2)], {"foo": "bar"})


async def test_a_bad_voicemail_box_reply_is_malformed_but_one_bad_voicemail_is_skipped() -> None:
    good = {"vmid": 1, "timestamp": NOW - 5, "clipid": "c1"}
    client = Client(Pages({"vmid": 1}))
    with pytest.raises(ApiMalformedReply):
        await client.extension_voicemail_get(extensionid=7)
    client = Client(Pages([good, {"vmid": 2, "timestamp": "abc"}]))
    kept: list[Voicemail] = await client.extension_voicemail_get(extensionid=7)
    assert [v.vmid for v in kept] == ["1"]


async def test_endless_distinct_pages_stop_at_the_limit_with_a_typed_error() -> None:
    pages = Pages(endless=lambda n: [{"smsid": n, "timestamp": NOW - 1}])
    with capture_logs() as logs, pytest.raises(ApiMalformedReply) as caught:
        await Client(pages, max_pages=25).sms_get(startdate=0, enddate=NOW)
    assert pages.asked == 25
    assert "still more pages after 25" in caught.value.message
    assert [e["pages"] for e in logs if e["event"] == "api.page_limit"] == [25]


async def test_a_listing_that_ends_within_the_limit_is_whole() -> None:
    pages = Pages(*[[{"smsid": n, "timestamp": NOW - 1}] for n in range(1, 25)])
    texts: list[Sms] = await Client(pages, max_pages=25).sms_get(startdate=0, enddate=NOW)
    assert len(texts) == 24
