"""The sandbox account's traffic: calls, voicemails and SMS, as history, live or injected."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator

from tossd.sandbox import catalog, voices
from tossd.sandbox.audio import ClipLibrary, tone_mp3
from tossd.sandbox.catalog import Record

DAY = 86_400
VOICEMAIL_HZ = 440
GREETING_HZ = 660
# Live traffic opens with one of each kind a notifier cares about, so a demo shows them all
# within seconds; after that kinds are drawn at random, weighted towards calls like a real line.
OPENING_KINDS = ("voicemail", "missed", "answered", "sms_in")
LATER_KINDS = ("voicemail", "missed", "answered", "answered", "sms_in", "sms_out")
_HISTORY_KINDS = ("answered", "missed", "voicemail")
_HISTORY_WEIGHTS = (6, 2, 2)
_CALLS_PER_DAY = (4, 7)
_SMS_PER_EXTENSION = (3, 6)


def _call_order(call: Record) -> tuple[int, int, str]:
    return call["startdate"], call["extensionid"], call["callernum"]


class Traffic:
    """Extensions and what happened on them: the record-keeping half of the sandbox world."""

    def __init__(self) -> None:
        self.extensions: dict[int, Record] = {}
        # Kept sorted by time, because callRecords and smsGet page through them in that order.
        self.calls: list[Record] = []
        self.sms: list[Record] = []
        # Voicemail objects carry no extensionid, so they are filed under their extension.
        self.voicemails: dict[int, list[Record]] = {}
        self.clips = ClipLibrary()
        self.features: dict[int, dict[str, Record]] = {}
        # did -> where it rings; whether it is for sale follows from its extensions.
        self.pool: dict[str, catalog.Place] = {}
        self._extension_ids: Iterator[int] = itertools.count(10_001)
        self._vmids: Iterator[int] = itertools.count(5_001)
        self._smsids: Iterator[int] = itertools.count(900_001)

    def add_extension(
        self,
        *,
        did: str,
        forward: str,
        startdate: int,
        enddate: int = 0,
        alias: str = "",
        added: int | None = None,
    ) -> Record:
        """Provision `did`; tests may reuse a DID to make it match several extensions."""
        extensionid = next(self._extension_ids)
        self.extensions[extensionid] = {
            "extensionid": extensionid,
            "did": did,
            "forward": forward,
            "added": startdate if added is None else added,
            "startdate": startdate,
            "enddate": enddate,
            "alias": alias,
        }
        self.features[extensionid] = catalog.default_features()
        self.pool.setdefault(did, ("", "", "", ""))
        return dict(self.extensions[extensionid])

    def add_call(
        self,
        *,
        extensionid: int,
        startdate: int,
        callernum: str,
        callername: str | None = None,
        seconds: int = 0,
        status: str | None = None,
        forwardnum: str | None = None,
        duration: int | None = None,
    ) -> Record:
        """Record a call: answered (forwarded) when `seconds` > 0, missed otherwise."""
        extension = self.extensions[extensionid]
        answered = seconds > 0
        call = {
            "startdate": startdate,
            "duration": math.ceil(seconds / 60) if duration is None else duration,
            "extensionid": extensionid,
            "callednum": extension["did"],
            "forwardnum": (extension["forward"] if answered else "0")
            if forwardnum is None
            else forwardnum,
            "callernum": callernum,
            "callername": callernum if callername is None else callername,
            "status": status or ("answered" if answered else "noanswer"),
            "seconds": seconds,
        }
        bisect.insort(self.calls, call, key=_call_order)
        return dict(call)

    def add_voicemail(
        self,
        *,
        extensionid: int,
        timestamp: int,
        callernum: str,
        callername: str | None = None,
        length: int = 14,
        callback: str | None = None,
        greeting_seconds: int = 5,
        audio: bytes | None = None,
    ) -> Record:
        """Record a call that went to voicemail, its Voicemail and its incoming audio clip
        (`audio`, else a tone of `length` seconds)."""
        name = callernum if callername is None else callername
        self.add_call(
            extensionid=extensionid,
            startdate=timestamp,
            callernum=callernum,
            callername=name,
            # The call is answered by voicemail: the caller hears the greeting, then speaks.
            seconds=greeting_seconds + length,
            status="voicemail",
            forwardnum="0",
        )
        clip = self.clips.add(
            tone_mp3(length, freq_hz=VOICEMAIL_HZ) if audio is None else audio,
            clipname=f"VM: {name}",
            duration=length,
            added=timestamp,
            cliptype="incoming",
        )
        voicemail = {
            "vmid": next(self._vmids),
            "calleridname": name,
            "callerid": callernum,
            "callback": callernum if callback is None else callback,
            "timestamp": timestamp,
            "length": length,
            "clipid": str(clip["clipid"]),
        }
        box = self.voicemails.setdefault(extensionid, [])
        bisect.insort(box, voicemail, key=lambda v: (v["timestamp"], v["vmid"]))
        return dict(voicemail)

    def add_sms(
        self, *, did: str, timestamp: int, peer: str, message: str, direction: str = "in"
    ) -> Record:
        """Record a text between the account's `did` and `peer`, `in`bound or `out`bound."""
        if direction not in ("in", "out"):
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        inbound = direction == "in"
        sms = {
            "smsid": str(next(self._smsids)),
            "source": peer if inbound else did,
            "destination": did if inbound else peer,
            "message": message,
            "timestamp": timestamp,
            "direction": direction,
        }
        bisect.insort(self.sms, sms, key=lambda s: (s["timestamp"], int(s["smsid"])))
        return dict(sms)


def seed_account(traffic: Traffic, rng: random.Random, now: int, extensions: int) -> None:
    """Numbers for sale, the default greetings and `extensions` extensions, all drawn from `rng`."""
    traffic.pool.update(catalog.pool_numbers(rng))
    for clipid, name, seconds in (*catalog.GREETINGS, (None, "Sales greeting", 9)):
        audio = tone_mp3(seconds, freq_hz=GREETING_HZ)
        added = now - (400 if clipid else 20) * DAY
        traffic.clips.add(audio, clipid=clipid, clipname=name, duration=seconds, added=added)
    local = [d for d, place in traffic.pool.items() if d[:2] == "+1" and place[2] != "TOLLFREE"]
    if extensions > len(local):
        raise ValueError(f"the sandbox has numbers for at most {len(local)} extensions")
    # The first extension is the oldest and ended a day or so ago, inside the history window,
    # so clients meet an ended extension that still has recent calls.
    for index, did in enumerate(rng.sample(local, extensions)):
        ended = extensions > 1 and index == 0
        start = now - (rng.randint(300, 400) if ended else rng.randint(10, 299)) * DAY
        traffic.add_extension(
            did=did,
            forward=rng.choice(catalog.FORWARDS),
            startdate=start,
            enddate=now - rng.randint(12, 36) * 3600 if ended else 0,
            alias=catalog.RETIRED_ALIAS if ended else catalog.ALIASES[index % len(catalog.ALIASES)],
            added=start - rng.randint(60, 3600),
        )


def seed_history(traffic: Traffic, rng: random.Random, now: int, days: int) -> None:
    """Fill the last `days` with calls, voicemails and texts on every extension live then."""
    window_start = now - days * DAY
    for extension in list(traffic.extensions.values()):
        # History stops a minute before `now`, so that nothing generated can look live.
        low = max(window_start, extension["startdate"])
        high = min(now - 60, extension["enddate"] or now)
        if high - low < 60:
            continue
        calls = max(2, rng.randint(*_CALLS_PER_DAY) * (high - low) // DAY)
        for at in _moments(rng, low, high, calls):
            kind = rng.choices(_HISTORY_KINDS, weights=_HISTORY_WEIGHTS)[0]
            arrive(traffic, rng, kind, extension, at)
        for at in _moments(rng, low, high, rng.randint(*_SMS_PER_EXTENSION)):
            arrive(traffic, rng, rng.choice(("sms_in", "sms_in", "sms_out")), extension, at)


def _moments(rng: random.Random, low: int, high: int, count: int) -> list[int]:
    """Distinct seconds: a call is identified by extension + start + caller, so no two collide."""
    return sorted(rng.sample(range(low, high), min(count, high - low)))


class Arrivals:
    """Live traffic: one item every `every` seconds after `start`, deterministic from `seed`."""

    def __init__(self, seed: int, start: int, every: float) -> None:
        if every < 1:
            raise ValueError("activity_every must be at least 1 second")
        self._rng = random.Random(f"arrivals:{seed}")  # independent of the history's draws
        self._start = start
        self._every = every
        self._made = 0

    def until(self, traffic: Traffic, now: int) -> list[Record]:
        """Create every item due by `now`, each stamped with its due time; describe them."""
        created: list[Record] = []
        # Due times are computed from the start, not summed, so float error never accumulates.
        while (due := self._start + (self._made + 1) * self._every) <= now:
            self._made += 1
            kind = (
                OPENING_KINDS[self._made - 1]
                if self._made <= len(OPENING_KINDS)
                else self._rng.choice(LATER_KINDS)
            )
            at = int(due)
            live = [e for e in traffic.extensions.values() if catalog.is_active(e, at)]
            if live:
                created.append(arrive(traffic, self._rng, kind, self._rng.choice(live), at))
        return created


def arrive(traffic: Traffic, rng: random.Random, kind: str, extension: Record, at: int) -> Record:
    """Create one item of `kind` on `extension` at `at` and describe it (kind and ids)."""
    name, number = rng.choice(catalog.CALLERS)
    eid = extension["extensionid"]
    made: Record = {"kind": kind, "extensionid": eid, "timestamp": at}
    if kind == "voicemail":
        # Callers speak (one of the committed clips, chosen by the same draw as before, so
        # seeded worlds stay as they were); most confirm their own number as the callback.
        drawn = catalog.VOICEMAIL_SECONDS.index(rng.choice(catalog.VOICEMAIL_SECONDS))
        said = voices.speaking()[drawn % len(voices.speaking())]
        voicemail = traffic.add_voicemail(
            extensionid=eid,
            timestamp=at,
            callernum=number,
            callername=name,
            length=said.whole_seconds,
            callback=rng.choice((number, number, "")),
            audio=said.audio(),
        )
        return made | {
            "callernum": number,
            "vmid": voicemail["vmid"],
            "clipid": voicemail["clipid"],
        }
    if kind in ("sms_in", "sms_out"):
        # A withheld number cannot text: texters come from the callers with a real number.
        number = rng.choice([n for _, n in catalog.CALLERS if n.startswith("+")])
        inbound = kind == "sms_in"
        sms = traffic.add_sms(
            did=extension["did"],
            timestamp=at,
            peer=number,
            message=rng.choice(catalog.SMS_IN if inbound else catalog.SMS_OUT),
            direction="in" if inbound else "out",
        )
        return made | {"did": extension["did"], "peer": number, "smsid": sms["smsid"]}
    seconds = rng.randint(8, 900) if kind == "answered" else 0
    status = "answered" if seconds else rng.choice(("noanswer", "noanswer", "busy"))
    traffic.add_call(
        extensionid=eid,
        startdate=at,
        callernum=number,
        callername=name,
        seconds=seconds,
        status=status,
    )
    return made | {"callernum": number}
