"""The sandbox's in-memory Tossable Digits account and the API methods that read and change it."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any

from tossd.sandbox import activity, catalog
from tossd.sandbox.activity import Arrivals
from tossd.sandbox.audio import decode_upload, mp3_seconds
from tossd.sandbox.catalog import (
    MethodError,
    Params,
    Record,
    choice,
    did_matches,
    digits,
    integer,
    need,
    value,
)
from tossd.sandbox.listing import Listings, summary

__all__ = ["MethodError", "Params", "World"]

Handler = Callable[[Params, int], Any]

_EXTENSION = ("extensionid", "did")
_PLACE = ("ratecenter", "city")


class World(Listings):
    """One account: its extensions and traffic, features, number pool and greetings."""

    def __init__(self, *, page_size: int = 50) -> None:
        super().__init__(page_size=page_size)
        self._arrivals: Arrivals | None = None
        self._handlers: dict[str, Handler] = {
            "extensionList": self._extension_list,
            "extensionGet": lambda p, now: dict(self._extension(p)),
            "extensionCreate": self._extension_create,
            "extensionUpdate": self._extension_update,
            "extensionCancel": self._extension_cancel,
            "callRecords": lambda p, now: self.page(self.calls_in(p, now), p),
            "callSummary": lambda p, now: summary(self.calls_in(p, now)),
            "extensionVoicemailGet": self._voicemail_get,
            "extensionVoicemailSet": self._voicemail_set,
            "audioclipGet": self._audioclip_get,
            "audioclipList": self._audioclip_list,
            "audioclipSet": self._audioclip_set,
            "audioclipNew": self._audioclip_new,
            "extensionFeatureGet": self._feature_get,
            "extensionFeatureSet": self._feature_set,
            "numberGetCountries": lambda p, now: catalog.countries(p),
            "numberGetRegions": lambda p, now: catalog.regions(p),
            "numberGetCities": lambda p, now: catalog.cities(p),
            "numberGetTollFree": lambda p, now: catalog.toll_free(p),
            "numberListPool": self._number_list_pool,
            "smsGet": self.sms_get,
        }

    @classmethod
    def generate(
        cls,
        seed: int,
        now: int,
        *,
        extensions: int = 4,
        history_days: int = 3,
        activity_every: float = 5.0,
        page_size: int = 50,
    ) -> World:
        """A busy account, the same for the same `seed` and `now`."""
        if extensions < 1 or history_days < 0 or page_size < 1:
            raise ValueError("need extensions >= 1, history_days >= 0 and page_size >= 1")
        rng = random.Random(seed)
        world = cls(page_size=page_size)
        activity.seed_account(world, rng, now, extensions)
        activity.seed_history(world, rng, now, history_days)
        world._arrivals = Arrivals(seed, now, activity_every)
        return world

    def call(self, method: str, params: Params, now: int) -> Any:
        """Run API `method` at time `now`: plain JSON-able data, or MethodError."""
        handler = self._handlers.get(method)
        if handler is None:
            raise MethodError(f"Unknown method {method}")
        return handler(params, now)

    def advance(self, now: int) -> list[Record]:
        """Create the live traffic due by `now` and describe each item (kind and ids)."""
        return self._arrivals.until(self, now) if self._arrivals else []

    def _extension(self, params: Params) -> Record:
        need(params, _EXTENSION)
        if value(params, "extensionid"):
            extensionid = integer(params, "extensionid")
            if extensionid not in self.extensions:
                raise MethodError(f"Extension {extensionid} not found")
            return self.extensions[extensionid]
        did = value(params, "did")
        found = [e for e in self.extensions.values() if digits(e["did"]) == digits(did)]
        if not found:
            raise MethodError(f"No extension found for DID {did}")
        if len(found) > 1:
            raise MethodError(f"DID {did} matches {len(found)} extensions; use extensionid")
        return found[0]

    def _open_extension(self, params: Params, now: int) -> Record:
        extension = self._extension(params)
        if catalog.is_ended(extension, now):
            raise MethodError(f"Extension {extension['extensionid']} is past its enddate")
        return extension

    def _extension_list(self, params: Params, now: int) -> list[Record]:
        keep: Callable[[Record], bool] = {
            "": lambda e: True,
            "1": lambda e: catalog.is_active(e, now),
            "0": lambda e: catalog.is_ended(e, now),
        }[choice(params, "active", ("1", "0"))]
        pattern = value(params, "didmatch")
        extensions = self.extensions.values()
        return [dict(e) for e in extensions if keep(e) and did_matches(e["did"], pattern)]

    def _extension_create(self, params: Params, now: int) -> Record:
        need(params, "forward", "countryid", "regionid", _PLACE)
        start, end = integer(params, "startdate", now), integer(params, "enddate", 0)
        if end and end <= start:
            raise MethodError("enddate must be after startdate")
        wanted = [value(params, k).casefold() for k in ("countryid", "regionid", *_PLACE)]
        for did in sorted(self.pool):
            place = [p.casefold() for p in self.pool[did]]
            fits = all(w in ("", p) for w, p in zip(wanted, place, strict=True))
            if fits and did_matches(did, value(params, "didmatch")) and not self._owners(did):
                forward, alias = value(params, "forward"), value(params, "alias")
                return self.add_extension(
                    did=did, forward=forward, startdate=start, enddate=end, alias=alias, added=now
                )
        raise MethodError("No numbers available for that location and didmatch")

    def _extension_update(self, params: Params, now: int) -> Record:
        extension = self._open_extension(params, now)
        changes: Record = {k: value(params, k) for k in ("forward", "alias") if value(params, k)}
        changes |= {k: integer(params, k) for k in ("startdate", "enddate") if value(params, k)}
        merged = extension | changes
        if merged["enddate"] and merged["enddate"] <= merged["startdate"]:
            raise MethodError("enddate must be after startdate")
        extension.update(changes)
        return dict(extension)

    def _extension_cancel(self, params: Params, now: int) -> Record:
        extension = self._open_extension(params, now)
        extension["enddate"] = now
        return dict(extension)

    def _voicemail_get(self, params: Params, now: int) -> list[Record]:
        return self.voicemails_listed(self._extension(params)["extensionid"], now)

    def _voicemail_set(self, params: Params, now: int) -> None:
        need(params, _EXTENSION, "vmid", "status")
        extensionid = self._extension(params)["extensionid"]
        vmid = integer(params, "vmid")
        if value(params, "status") != "deleted":
            raise MethodError("Invalid value for status: deleted is the only supported status")
        box = self.voicemails.get(extensionid, [])
        found = [v for v in box if v["vmid"] == vmid]
        if not found:
            raise MethodError(f"Voicemail {vmid} not found on extension {extensionid}")
        box.remove(found[0])
        # The recording goes with its message, as it does on the provider's website.
        self.clips.remove(found[0]["clipid"])

    def _clip(self, params: Params) -> Record:
        need(params, "clipid")
        clipid = value(params, "clipid")
        if clipid not in self.clips:
            raise MethodError(f"Audioclip {clipid} not found")
        return self.clips.records[clipid]

    def _audioclip_get(self, params: Params, now: int) -> Record:
        clip = self._clip(params)
        data = self.clips.data(str(clip["clipid"]))
        return clip | {"filedata": base64.b64encode(data).decode("ascii")}

    def _audioclip_list(self, params: Params, now: int) -> list[Record]:
        cliptype = choice(params, "cliptype", ("incoming", "outgoing"))
        clips = [c for c in self.clips.records.values() if cliptype in ("", c["cliptype"])]
        return [dict(c) for c in sorted(clips, key=lambda c: (c["added"], str(c["clipid"])))]

    def _audioclip_set(self, params: Params, now: int) -> Record:
        clip = self._clip(params)
        if name := value(params, "clipname"):
            clip["clipname"] = name
        return dict(clip)

    def _audioclip_new(self, params: Params, now: int) -> Record:
        need(params, "filedata")
        size = integer(params, "filesize") if value(params, "filesize") else None
        try:
            data = decode_upload(value(params, "filedata"), size)
        except ValueError as exc:
            raise MethodError(str(exc)) from None
        # Uploads are kept as sent: the provider would transcode, the sandbox only stores.
        name = value(params, "clipname")
        return self.clips.add(data, clipname=name, duration=mp3_seconds(data), added=now)

    def _feature(self, params: Params) -> Record:
        extension = self._extension(params)
        name = choice(params, "name", tuple(catalog.FEATURES))
        return self.features[extension["extensionid"]][name]

    def _feature_get(self, params: Params, now: int) -> Record:
        need(params, _EXTENSION, "name")
        feature = self._feature(params)
        return feature | {"options": dict(feature["options"])}

    def _feature_set(self, params: Params, now: int) -> Record:
        need(params, _EXTENSION, "name", "status")
        feature = self._feature(params)
        status = choice(params, "status", ("1", "0"))
        options = {k: value(params, k) for k in feature["options"] if value(params, k)}
        for key, text in options.items():
            problem = catalog.option_problem(key, text)
            if key == "clipid" and text not in self.clips:
                problem = f"Audioclip {text} not found"
            if problem:
                raise MethodError(problem)
        feature["status"] = int(status)
        feature["options"].update(options)
        return feature | {"options": dict(feature["options"])}

    def _owners(self, did: str) -> list[Record]:
        return [e for e in self.extensions.values() if e["did"] == did]

    def _number_list_pool(self, params: Params, now: int) -> list[Record]:
        wanted = choice(params, "status", ("inuse", "quiet", "avail"))
        rows = []
        for did in sorted(self.pool):
            owners = self._owners(did)
            live = any(not catalog.is_ended(e, now) for e in owners)
            # A released number stays "quiet" rather than going straight back on sale.
            status = "inuse" if live else "quiet" if owners else "avail"
            latest = max((e["extensionid"] for e in owners), default=0)
            if wanted in ("", status) and did_matches(did, value(params, "didmatch")):
                rows.append({"did": did, "status": status, "extensionid": latest})
        return rows
