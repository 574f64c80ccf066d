"""The sandbox world: determinism, every method against the client's models, errors, paging."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from support import sandbox

from tossd.api.models import (
    ApiObject,
    Audioclip,
    CallRecord,
    CallSummary,
    City,
    Country,
    Extension,
    Feature,
    NumberPool,
    Region,
    Sms,
    TollFree,
    Voicemail,
    list_of,
)
from tossd.sandbox.audio import decode_upload, mp3_seconds, tone_mp3
from tossd.sandbox.world import MethodError, World

NOW = 1_764_000_000
DAY = 86_400
WEEK = {"startdate": NOW - 7 * DAY, "enddate": NOW}

SPEC_METHODS = [
    "extensionList",
    "extensionGet",
    "extensionCreate",
    "extensionUpdate",
    "extensionCancel",
    "callRecords",
    "callSummary",
    "extensionVoicemailGet",
    "extensionVoicemailSet",
    "audioclipGet",
    "audioclipList",
    "audioclipSet",
    "audioclipNew",
    "extensionFeatureGet",
    "extensionFeatureSet",
    "numberGetCountries",
    "numberGetRegions",
    "numberGetCities",
    "numberGetTollFree",
    "numberListPool",
    "smsGet",
]


def ask(world: World, method: str, now: int = NOW, **params: Any) -> Any:
    """Call like the server does (every parameter arrives as text), at NOW unless told."""
    return sandbox.ask(world, method, now, **params)


def refusal(world: World, method: str, **params: Any) -> str:
    with pytest.raises(MethodError) as caught:
        ask(world, method, **params)
    return str(caught.value)


def all_pages(world: World, method: str, **params: Any) -> list[list[Any]]:
    return sandbox.pages(world, method, NOW, **params)


@pytest.fixture(scope="module")
def pristine() -> World:
    return World.generate(7, NOW)


@pytest.fixture
def world() -> World:
    return World.generate(7, NOW, page_size=10)


def open_extension(world: World) -> dict[str, Any]:
    return next(e for e in ask(world, "extensionList", active=1))


def ended_extension(world: World) -> dict[str, Any]:
    return next(e for e in ask(world, "extensionList", active=0))


def snapshot(world: World) -> dict[str, Any]:
    extensions = ask(world, "extensionList")
    return {
        "extensions": extensions,
        "calls": all_pages(world, "callRecords", **WEEK),
        "sms": [all_pages(world, "smsGet", did=e["did"], **WEEK) for e in extensions],
        "voicemail": [
            ask(world, "extensionVoicemailGet", extensionid=e["extensionid"]) for e in extensions
        ],
        "clips": ask(world, "audioclipList"),
        "pool": ask(world, "numberListPool"),
    }


def test_same_seed_and_time_give_the_same_world() -> None:
    first, second = World.generate(3, NOW), World.generate(3, NOW)
    assert snapshot(first) == snapshot(second)
    assert first.advance(NOW + 60) == second.advance(NOW + 60)
    assert snapshot(first) == snapshot(second)
    assert snapshot(World.generate(4, NOW)) != snapshot(World.generate(3, NOW))


def test_generated_account_has_what_clients_meet(pristine: World) -> None:
    extensions = ask(pristine, "extensionList")
    assert len(extensions) == 4 and len({e["did"] for e in extensions}) == 4
    assert all(e["did"].startswith("+1") and e["did"][1:].isdigit() for e in extensions)
    ended = [e for e in extensions if e["enddate"]]
    assert len(ended) == 1 and NOW - 2 * DAY < ended[0]["enddate"] < NOW
    calls = [c for page in all_pages(pristine, "callRecords", **WEEK) for c in page]
    assert {c["extensionid"] for c in calls} == {e["extensionid"] for e in extensions}
    assert all(c["startdate"] < NOW for c in calls)
    statuses = {c["status"] for c in calls}
    assert {"answered", "voicemail"} <= statuses and statuses & {"noanswer", "busy"}
    for c in calls:
        assert (c["seconds"] == 0) == (c["duration"] == 0)
        assert c["duration"] == -(-c["seconds"] // 60)
        assert (c["forwardnum"] == "0") == (c["status"] != "answered")
    names = {c["callername"] for c in calls}
    assert any(not n.isascii() for n in names) and any(
        c["callername"] == c["callernum"] for c in calls
    )
    assert {"vmdefault", "rtimedefault", "screendefault"} <= {
        c["clipid"] for c in ask(pristine, "audioclipList", cliptype="outgoing")
    }


def _first_ids(world: World) -> dict[str, Any]:
    extension = open_extension(world)
    voicemail = next(
        v
        for e in ask(world, "extensionList")
        for v in ask(world, "extensionVoicemailGet", extensionid=e["extensionid"])
    )
    return {
        "extensionid": extension["extensionid"],
        "did": extension["did"],
        "clipid": voicemail["clipid"],
    }


Case = tuple[str, Callable[[dict[str, Any]], dict[str, Any]], type[ApiObject], bool]
CASES: list[Case] = [
    ("extensionList", lambda ids: {}, Extension, True),
    ("extensionGet", lambda ids: {"did": ids["did"]}, Extension, False),
    (
        "extensionCreate",
        lambda ids: {
            "forward": "+15551230000",
            "countryid": "US",
            "regionid": "NY",
            "city": "Brooklyn",
        },
        Extension,
        False,
    ),
    (
        "extensionUpdate",
        lambda ids: {"extension": ids["extensionid"], "alias": "Renamed"},
        Extension,
        False,
    ),
    ("extensionCancel", lambda ids: {"extensionid": ids["extensionid"]}, Extension, False),
    ("callRecords", lambda ids: WEEK, CallRecord, True),
    ("callSummary", lambda ids: WEEK, CallSummary, False),
    ("extensionVoicemailGet", lambda ids: {"did": ids["did"]}, Voicemail, True),
    ("audioclipGet", lambda ids: {"clipid": ids["clipid"]}, Audioclip, False),
    ("audioclipList", lambda ids: {}, Audioclip, True),
    ("audioclipSet", lambda ids: {"clipid": "vmdefault", "clipname": "Hello"}, Audioclip, False),
    (
        "audioclipNew",
        lambda ids: {"filedata": base64.b64encode(tone_mp3(2)).decode()},
        Audioclip,
        False,
    ),
    (
        "extensionFeatureGet",
        lambda ids: {"extensionid": ids["extensionid"], "name": "vm"},
        Feature,
        False,
    ),
    (
        "extensionFeatureSet",
        lambda ids: {
            "extensionid": ids["extensionid"],
            "name": "rtime",
            "status": 1,
            "tz": "Europe/Paris",
        },
        Feature,
        False,
    ),
    ("numberGetCountries", lambda ids: {}, Country, True),
    ("numberGetRegions", lambda ids: {"countryid": "us"}, Region, True),
    ("numberGetCities", lambda ids: {"countryid": "US", "regionid": "NY"}, City, True),
    ("numberGetTollFree", lambda ids: {}, TollFree, True),
    ("numberListPool", lambda ids: {"status": "avail"}, NumberPool, True),
    ("smsGet", lambda ids: {"did": ids["did"], "page": 1, **WEEK}, Sms, True),
]


def test_the_cases_cover_every_method_of_the_spec(pristine: World) -> None:
    # extensionVoicemailSet answers no data: it has a test of its own below.
    assert {method for method, *_ in CASES} | {"extensionVoicemailSet"} == set(SPEC_METHODS)
    assert refusal(pristine, "extensionFrobnicate") == "Unknown method extensionFrobnicate"


@pytest.mark.parametrize(("method", "params", "model", "many"), CASES, ids=[c[0] for c in CASES])
def test_every_method_answers_what_the_client_models_parse(
    world: World,
    method: str,
    params: Callable[[dict[str, Any]], dict[str, Any]],
    model: type[ApiObject],
    many: bool,
) -> None:
    data = ask(world, method, **params(_first_ids(world)))
    if many:
        parsed: Any = list_of(model).validate_python(data)
        assert parsed and all(isinstance(item, model) for item in parsed)
    else:
        parsed = model.model_validate(data)
        assert isinstance(data, dict) and set(data) <= set(model.model_fields)
    assert json.loads(json.dumps(data)) == data  # plain JSON types, nothing to convert


def test_voicemail_set_deletes_the_message_and_its_recording(world: World) -> None:
    ids = _first_ids(world)
    owner = next(
        e
        for e in ask(world, "extensionList")
        if ask(world, "extensionVoicemailGet", extensionid=e["extensionid"])
    )
    box = ask(world, "extensionVoicemailGet", extensionid=owner["extensionid"])
    assert ids["clipid"] == box[0]["clipid"] and isinstance(box[0]["clipid"], str)
    assert (
        ask(
            world,
            "extensionVoicemailSet",
            extensionid=owner["extensionid"],
            vmid=box[0]["vmid"],
            status="deleted",
        )
        is None
    )
    assert box[0]["vmid"] not in {
        v["vmid"] for v in ask(world, "extensionVoicemailGet", extensionid=owner["extensionid"])
    }
    assert (
        refusal(world, "audioclipGet", clipid=box[0]["clipid"])
        == f"Audioclip {box[0]['clipid']} not found"
    )
    assert "deleted" in refusal(
        world,
        "extensionVoicemailSet",
        extensionid=owner["extensionid"],
        vmid=box[1]["vmid"],
        status="read",
    )


@pytest.mark.parametrize(
    ("method", "params", "missing"),
    [
        ("callRecords", {}, "startdate"),
        ("callRecords", {"startdate": 1}, "enddate"),
        ("callSummary", {"startdate": " ", "enddate": 5}, "startdate"),
        ("smsGet", {"enddate": 2}, "startdate"),
        ("smsGet", {"did": "+12125550134", "startdate": 1, "enddate": 2}, "page"),
        ("extensionGet", {}, "extensionid or did"),
        ("extensionCreate", {"countryid": "US"}, "forward"),
        (
            "extensionCreate",
            {"forward": "+1", "countryid": "US", "regionid": "NY"},
            "ratecenter or city",
        ),
        ("extensionVoicemailSet", {"extensionid": 10002, "status": "deleted"}, "vmid"),
        ("extensionFeatureSet", {"extensionid": 10002, "name": "vm"}, "status"),
        ("audioclipGet", {}, "clipid"),
        ("audioclipNew", {"filesize": 3}, "filedata"),
        ("numberGetRegions", {"countryid": ""}, "countryid"),
        ("numberGetCities", {"countryid": "XX"}, "regionid"),
    ],
)
def test_missing_values_are_refused_in_the_providers_words(
    pristine: World, method: str, params: dict[str, Any], missing: str
) -> None:
    assert refusal(pristine, method, **params) == f"Required value {missing} not set or is empty"


def test_pages_split_the_records_without_overlap(world: World) -> None:
    pages = all_pages(world, "callRecords", **WEEK)
    assert len(pages) > 2 and all(len(p) == 10 for p in pages[:-1])
    flat = [(c["extensionid"], c["startdate"], c["callernum"]) for p in pages for c in p]
    assert len(flat) == len(set(flat)) == len(world.calls)
    assert [c[1] for c in flat] == sorted(c[1] for c in flat)
    assert ask(world, "callRecords", **WEEK, page=len(pages) + 1) == []
    assert "page" in refusal(world, "callRecords", **WEEK, page=0)
    did = open_extension(world)["did"]
    texts = [s["smsid"] for p in all_pages(world, "smsGet", did=did, **WEEK) for s in p]
    assert texts and len(texts) == len(set(texts))
    assert ask(world, "smsGet", did=did, page=99, **WEEK) == []


@pytest.mark.parametrize(
    "scope",
    [{}, {"extensionid": 10002}, {"extension": 10003}, {"didmatch": "1718"}, {"didmatch": "1999"}],
)
def test_call_summary_agrees_with_call_records(world: World, scope: dict[str, Any]) -> None:
    window = {"startdate": NOW - 2 * DAY, "enddate": NOW - DAY // 3}
    calls = [c for p in all_pages(world, "callRecords", **window, **scope) for c in p]
    summary = ask(world, "callSummary", **window, **scope)
    minutes = [c["duration"] for c in calls]
    expected = {
        "firstcall": min((c["startdate"] for c in calls), default=0),
        "lastcall": max((c["startdate"] for c in calls), default=0),
        "minduration": min(minutes, default=0),
        "maxduration": max(minutes, default=0),
        "avgduration": round(sum(minutes) / len(minutes), 2) if minutes else 0.0,
        "totalduration": sum(minutes),
        "totalcalls": len(calls),
    }
    assert summary == expected
    assert isinstance(summary["avgduration"], float)
    assert all(c["startdate"] >= window["startdate"] for c in calls)


def test_voicemail_audio_is_the_mp3_it_claims_to_be(pristine: World) -> None:
    extension = next(
        e
        for e in ask(pristine, "extensionList")
        if ask(pristine, "extensionVoicemailGet", extensionid=e["extensionid"])
    )
    voicemail = ask(pristine, "extensionVoicemailGet", extensionid=extension["extensionid"])[0]
    clip = ask(pristine, "audioclipGet", clipid=voicemail["clipid"])
    audio = base64.b64decode(clip["filedata"], validate=True)
    assert len(audio) == clip["filesize"] > 0
    assert sandbox.looks_like_mp3(audio)
    assert clip["cliptype"] == "incoming" and isinstance(clip["clipid"], int)
    assert clip["duration"] == voicemail["length"]
    assert abs(mp3_seconds(audio) - voicemail["length"]) <= 1
    listed = {str(c["clipid"]): c for c in ask(pristine, "audioclipList")}
    assert listed[voicemail["clipid"]]["filedata"] == ""


def test_tone_encoding_is_fast_and_memoised() -> None:
    started = time.perf_counter()
    audio = tone_mp3.__wrapped__(30, freq_hz=523)
    assert time.perf_counter() - started < 1.0
    assert 30 * 1500 < len(audio) < 30 * 4500  # 16 kbps is 2000 bytes a second
    assert tone_mp3(3) is tone_mp3(3)
    with pytest.raises(ValueError):
        tone_mp3(0)


def test_advance_opens_with_each_kind_then_keeps_to_the_clock() -> None:
    world = World.generate(11, NOW, activity_every=5.0)
    assert world.advance(NOW + 4) == []
    made = world.advance(NOW + 22)
    assert [m["kind"] for m in made] == ["voicemail", "missed", "answered", "sms_in"]
    assert [m["timestamp"] for m in made] == [NOW + 5, NOW + 10, NOW + 15, NOW + 20]
    later = world.advance(NOW + 300)
    assert len(later) == 56 and all(NOW + 22 < m["timestamp"] <= NOW + 300 for m in later)
    assert world.advance(NOW + 300) == []
    voicemail = made[0]
    box = ask(world, "extensionVoicemailGet", NOW + 22, extensionid=voicemail["extensionid"])
    assert voicemail["vmid"] in {v["vmid"] for v in box}
    calls = ask(
        world,
        "callRecords",
        NOW + 22,
        startdate=NOW,
        enddate=NOW + 20,
        extensionid=made[1]["extensionid"],
    )
    assert any(c["startdate"] == NOW + 10 and c["seconds"] == 0 for c in calls)
    texts = ask(
        world,
        "smsGet",
        did=made[3]["did"],
        startdate=NOW + 20,
        enddate=NOW + 20,
        page=1,
        direction="in",
    )
    assert [t["smsid"] for t in texts] == [made[3]["smsid"]]


def test_advance_does_not_depend_on_how_often_it_is_called() -> None:
    stepwise, at_once = World.generate(5, NOW), World.generate(5, NOW)
    steps = [m for t in [*range(NOW, NOW + 100, 7), NOW + 100] for m in stepwise.advance(t)]
    assert steps == at_once.advance(NOW + 100) and len(steps) == 20


def test_a_did_shared_by_two_extensions_must_be_named_by_extensionid(world: World) -> None:
    old = ended_extension(world)
    again = world.add_extension(did=old["did"], forward="+19175550100", startdate=NOW - 60)
    assert "matches 2 extensions" in refusal(world, "extensionGet", did=old["did"])
    assert ask(world, "extensionGet", extensionid=again["extensionid"])["did"] == old["did"]
    assert (
        refusal(world, "extensionGet", did="+19995550100")
        == "No extension found for DID +19995550100"
    )


def test_an_ended_extension_cannot_change(world: World) -> None:
    old = ended_extension(world)
    message = f"Extension {old['extensionid']} is past its enddate"
    assert refusal(world, "extensionUpdate", extensionid=old["extensionid"], alias="x") == message
    assert refusal(world, "extensionCancel", extensionid=old["extensionid"]) == message
    live = open_extension(world)
    cancelled = ask(world, "extensionCancel", did=live["did"])
    assert cancelled["enddate"] == NOW
    assert "past its enddate" in refusal(world, "extensionCancel", extensionid=live["extensionid"])
    assert live["extensionid"] not in {
        e["extensionid"] for e in ask(world, "extensionList", active=1)
    }


def test_extension_create_takes_a_number_from_the_pool(world: World) -> None:
    avail = {p["did"] for p in ask(world, "numberListPool", status="avail", didmatch="1415")}
    created = ask(
        world,
        "extensionCreate",
        forward="+19175550100",
        countryid="US",
        regionid="CA",
        city="San Francisco",
        didmatch="1415",
    )
    assert created["did"] in avail and created["added"] == NOW and created["enddate"] == 0
    pool = {p["did"]: p for p in ask(world, "numberListPool")}
    assert pool[created["did"]] == {
        "did": created["did"],
        "status": "inuse",
        "extensionid": created["extensionid"],
    }
    ask(world, "extensionCancel", extensionid=created["extensionid"])
    assert {p["did"]: p["status"] for p in ask(world, "numberListPool")}[created["did"]] == "quiet"
    assert "No numbers available" in refusal(
        world, "extensionCreate", forward="+1", countryid="DE", regionid="noRegion", city="Berlin"
    )


def test_audioclip_new_checks_the_announced_size(world: World) -> None:
    mp3 = tone_mp3(2)
    encoded = base64.b64encode(mp3).decode()
    wrong = refusal(world, "audioclipNew", filedata=encoded, filesize=len(mp3) + 1)
    assert wrong == f"filesize {len(mp3) + 1} does not match the {len(mp3)} bytes of filedata"
    assert "not base64" in refusal(world, "audioclipNew", filedata="not*base64")
    clip = ask(world, "audioclipNew", filedata=encoded, filesize=len(mp3), clipname="Greeting")
    assert clip["filesize"] == len(mp3) and clip["duration"] == 2 and clip["cliptype"] == "outgoing"
    fetched = ask(world, "audioclipGet", clipid=clip["clipid"])
    assert base64.b64decode(fetched["filedata"]) == mp3
    # A "+" turned into a space by careless form encoding must not pass silently.
    mangled = encoded.replace("+", " ")
    assert mangled != encoded
    with pytest.raises(ValueError):
        decode_upload(mangled, len(mp3))


def test_features_are_checked_and_kept(world: World) -> None:
    extensionid = open_extension(world)["extensionid"]
    assert "isset" in refusal(
        world, "extensionFeatureSet", extensionid=extensionid, name="clid", status=1, isset="nope"
    )
    assert (
        refusal(
            world,
            "extensionFeatureSet",
            extensionid=extensionid,
            name="vm",
            status=1,
            clipid=424242,
        )
        == "Audioclip 424242 not found"
    )
    assert "name" in refusal(world, "extensionFeatureGet", extensionid=extensionid, name="fax")
    feature = ask(
        world,
        "extensionFeatureSet",
        extensionid=extensionid,
        name="rtime",
        status=1,
        start=8,
        tz="Europe/Paris",
    )
    feature["options"]["start"] = "tampered"
    kept = ask(world, "extensionFeatureGet", extensionid=extensionid, name="rtime")
    assert (
        kept["status"] == 1
        and kept["options"]["start"] == "8"
        and kept["options"]["tz"] == "Europe/Paris"
    )


def test_extension_list_filters_by_state_and_number(pristine: World) -> None:
    everyone = ask(pristine, "extensionList")
    active = ask(pristine, "extensionList", active=1)
    ended = ask(pristine, "extensionList", active=0)
    assert sorted(e["extensionid"] for e in active + ended) == sorted(
        e["extensionid"] for e in everyone
    )
    assert len(ended) == 1 and all(e["enddate"] == 0 for e in active)
    did = everyone[2]["did"]
    assert [e["did"] for e in ask(pristine, "extensionList", didmatch=did[:8])] == [did]


def test_injected_records_show_up_where_clients_look(world: World) -> None:
    extension = open_extension(world)
    hostile = "<script>alert(1)</script> \u202eevil"
    late = world.add_call(
        extensionid=extension["extensionid"],
        startdate=NOW - 5 * DAY,
        callernum="+12025550117",
        callername=hostile,
        seconds=61,
    )
    assert (
        late["duration"] == 2
        and late["forwardnum"] == extension["forward"]
        and late["status"] == "answered"
    )
    found = [
        c for p in all_pages(world, "callRecords", **WEEK) for c in p if c["callername"] == hostile
    ]
    assert found == [late] and CallRecord.model_validate(found[0]).seconds == 61
    voicemail = world.add_voicemail(
        extensionid=extension["extensionid"], timestamp=NOW - 30, callernum="+12025550117", length=9
    )
    assert voicemail["calleridname"] == "+12025550117" and voicemail["length"] == 9
    assert ask(world, "audioclipGet", clipid=voicemail["clipid"])["duration"] == 9
    sms = world.add_sms(
        did=extension["did"], timestamp=NOW - 6 * DAY, peer="+12025550117", message=hostile
    )
    texts = [s for p in all_pages(world, "smsGet", did=extension["did"], **WEEK) for s in p]
    assert texts[0] == sms and Sms.model_validate(sms).direction == "in"
