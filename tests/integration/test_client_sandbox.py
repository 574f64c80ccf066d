"""The client against the sandbox over loopback: every method, both formats, every fault."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs
from support.sandbox import ask, looks_like_mp3, records

from tossd.api.client import Client
from tossd.api.envelope import Format
from tossd.errors import ApiKeyRejected, ApiMalformedReply, ApiRejected, ApiServerError, ApiTimeout
from tossd.sandbox.audio import tone_mp3
from tossd.sandbox.server import RunningSandbox

FORMATS: list[Format] = ["json", "php_serial"]
MakeClient = Callable[..., Client]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_extensions_and_calls(
    fmt: Format, make_client: MakeClient, sandbox: RunningSandbox, now: int
) -> None:
    client = make_client(fmt)
    extensions = await client.extension_list()
    assert {e.extensionid for e in extensions} == {
        int(e["extensionid"]) for e in ask(sandbox.sandbox.world, "extensionList", now)
    }
    first = extensions[0]
    assert await client.extension_get(extensionid=first.extensionid) == first
    assert (await client.extension_get(did=first.did)).extensionid == first.extensionid

    window = {"startdate": now - 7 * 86400, "enddate": now}
    calls = await client.call_records(**window)
    expected = records(sandbox.sandbox.world, "callRecords", now, **window)
    assert [(c.extensionid, c.startdate, c.callernum) for c in calls] == [
        (int(r["extensionid"]), int(r["startdate"]), str(r["callernum"])) for r in expected
    ]
    summary = await client.call_summary(**window)
    assert summary.totalcalls == len(calls)
    assert summary.totalduration == sum(c.duration for c in calls)

    one = await client.call_records(**window, extensionid=first.extensionid)
    assert one and all(c.extensionid == first.extensionid for c in one)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_voicemail_and_audio(
    fmt: Format, make_client: MakeClient, sandbox: RunningSandbox, now: int
) -> None:
    client = make_client(fmt)
    boxes = [
        (ext, await client.extension_voicemail_get(extensionid=ext.extensionid))
        for ext in await client.extension_list()
    ]
    ext, voicemails = next((e, v) for e, v in boxes if v)
    clip = await client.audioclip_get(clipid=voicemails[0].clipid)
    audio = clip.audio()
    assert len(audio) == clip.filesize > 0
    assert looks_like_mp3(audio)
    served = ask(sandbox.sandbox.world, "audioclipGet", now, clipid=voicemails[0].clipid)
    assert audio == base64.b64decode(served["filedata"])

    await client.extension_voicemail_set(extensionid=ext.extensionid, vmid=voicemails[0].vmid)
    left = await client.extension_voicemail_get(extensionid=ext.extensionid)
    assert voicemails[0].vmid not in {v.vmid for v in left}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_account_methods(fmt: Format, make_client: MakeClient, now: int) -> None:
    client = make_client(fmt)
    countries = await client.number_get_countries()
    assert "US" in {c.countryid for c in countries}
    regions = await client.number_get_regions(countryid="US")
    assert regions
    cities = await client.number_get_cities(countryid="US", regionid=regions[0].regionid)
    assert cities and all(c.regionid == regions[0].regionid for c in cities)
    assert all(t.tftype >= 0 for t in await client.number_get_toll_free())
    assert await client.number_list_pool() is not None

    created = await client.extension_create(
        forward="+15551230000",
        countryid="US",
        regionid=cities[0].regionid,
        ratecenter=cities[0].ratecenter,
        alias="Test line",
    )
    assert created.alias == "Test line"
    updated = await client.extension_update(extensionid=created.extensionid, alias="Renamed")
    assert updated.alias == "Renamed"
    cancelled = await client.extension_cancel(extensionid=created.extensionid)
    assert cancelled.enddate > 0
    with pytest.raises(ApiRejected):
        await client.extension_cancel(extensionid=created.extensionid)

    feature = await client.extension_feature_set(
        extensionid=created.extensionid - 1 if created.extensionid > 1 else created.extensionid,
        name="vm",
        status=True,
        options={"timeout": 24},
    )
    assert feature.feature == "vm" and feature.status == 1

    mp3 = tone_mp3(2)
    clip = await client.audioclip_new(filedata=mp3, clipname="Greeting")
    assert clip.filesize == len(mp3)
    assert clip.clipid in {c.clipid for c in await client.audioclip_list()}
    renamed = await client.audioclip_set(clipid=clip.clipid, clipname="Greeting 2")
    assert renamed.clipname == "Greeting 2"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_sms_paging(
    fmt: Format, make_client: MakeClient, sandbox: RunningSandbox, now: int
) -> None:
    client = make_client(fmt)
    ext = (await client.extension_list(active=True))[0]
    texts = await client.sms_get(did=ext.did, startdate=now - 7 * 86400, enddate=now)
    expected = records(
        sandbox.sandbox.world, "smsGet", now, did=ext.did, startdate=now - 7 * 86400, enddate=now
    )
    assert [t.smsid for t in texts] == [str(t["smsid"]) for t in expected]
    inbound = await client.sms_get(
        did=ext.did, startdate=now - 7 * 86400, enddate=now, direction="in"
    )
    assert all(t.direction == "in" for t in inbound)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_numbers_as_strings_are_coerced(
    fmt: Format, make_client: MakeClient, sandbox: RunningSandbox, now: int
) -> None:
    client = make_client(fmt)
    window = {"startdate": now - 7 * 86400, "enddate": now}
    plain = await client.call_records(**window)
    summary = await client.call_summary(**window)
    sandbox.sandbox.faults.numbers_as_strings = True
    assert await client.call_records(**window) == plain
    assert await client.call_summary(**window) == summary


@pytest.mark.parametrize("fmt", FORMATS)
async def test_missing_parameter_gives_provider_wording(
    fmt: Format, make_client: MakeClient
) -> None:
    client = make_client(fmt)
    with pytest.raises(ApiRejected) as caught:
        await client.number_get_regions(countryid="")
    assert caught.value.msgs == ("Required value countryid not set or is empty",)
    assert not isinstance(caught.value, ApiKeyRejected)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_bad_key_is_rejected_and_never_shown(fmt: Format, make_client: MakeClient) -> None:
    secret = "wrong-key-0d9e8f7a6b"
    client = make_client(fmt, key=secret)
    with capture_logs() as logs, pytest.raises(ApiKeyRejected) as caught:
        await client.extension_list()
    assert secret not in str(caught.value) and secret not in repr(client)
    assert secret not in repr(logs)


async def test_http_500_is_retried_then_succeeds(
    make_client: MakeClient, sandbox: RunningSandbox, api_key: str
) -> None:
    sandbox.sandbox.faults.force("http_500", times=2)
    client = make_client(retries=3)
    with capture_logs() as logs:
        assert await client.extension_list()
    retries = [e for e in logs if e["event"] == "api.retry"]
    assert [e["attempt"] for e in retries] == [1, 2]
    assert sandbox.sandbox.requests["extensionList"] == 3
    assert api_key not in repr(logs)


async def test_http_500_gives_up_after_retries(
    make_client: MakeClient, sandbox: RunningSandbox
) -> None:
    sandbox.sandbox.faults.force("http_500", times=5)
    with pytest.raises(ApiServerError) as caught:
        await make_client(retries=2).extension_list()
    assert caught.value.status_code == 500 and caught.value.transient
    assert sandbox.sandbox.requests["extensionList"] == 3


async def test_hung_request_times_out_and_is_retried(
    make_client: MakeClient, sandbox: RunningSandbox
) -> None:
    sandbox.sandbox.faults.force("hang", times=1)
    assert await make_client(timeout_s=0.3, retries=1).extension_list()
    sandbox.sandbox.faults.force("hang", times=1)
    with pytest.raises(ApiTimeout):
        await make_client(timeout_s=0.3, retries=0).extension_list()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_malformed_body_raises_with_excerpt(
    fmt: Format, make_client: MakeClient, sandbox: RunningSandbox
) -> None:
    sandbox.sandbox.faults.force("malformed")
    with pytest.raises(ApiMalformedReply) as caught:
        await make_client(fmt).extension_list()
    assert caught.value.excerpt and len(caught.value.excerpt) <= 120
    assert sandbox.sandbox.requests["extensionList"] == 1  # not retried within the call


async def test_injected_status_false_is_not_retried(
    make_client: MakeClient, sandbox: RunningSandbox
) -> None:
    sandbox.sandbox.faults.force("status_false")
    with pytest.raises(ApiRejected) as caught:
        await make_client().extension_list()
    assert not isinstance(caught.value, ApiKeyRejected)
    assert sandbox.sandbox.requests["extensionList"] == 1


async def test_concurrency_limit_is_shared(
    make_client: MakeClient, sandbox: RunningSandbox
) -> None:
    sandbox.sandbox.faults.latency_ms = 30
    client = make_client(max_concurrency=3)
    await asyncio.gather(*(client.number_get_countries() for _ in range(12)))
    assert sandbox.sandbox.max_in_flight == 3
