"""The Tossable Digits client: one typed coroutine per API method, paging included."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from pydantic import TypeAdapter, ValidationError

from tossd.api.envelope import Format
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
    as_list,
    list_of,
)
from tossd.api.transport import RequestHook, Transport
from tossd.errors import ApiMalformedReply

T = TypeVar("T")
ObjT = TypeVar("ObjT", bound=ApiObject)

#: A server that ignores `page` would otherwise be asked forever.
MAX_PAGES = 1000


class Caller(Protocol):
    """What the client needs from a transport: one method call in, the envelope's data out."""

    async def call(self, method: str, params: Mapping[str, object]) -> Any: ...

    async def aclose(self) -> None: ...


class Client:
    """Async client for https://www.TossableDigits.com/apihttp.php (or the sandbox).

    Parameters follow the provider's names; `None` means "not sent". Every reply is validated
    into the typed objects of `tossd.api.models`; a reply that does not fit raises
    `ApiMalformedReply` naming the method.
    """

    def __init__(self, transport: Caller) -> None:
        self._transport = transport

    @classmethod
    def connect(
        cls,
        url: str,
        key: str,
        *,
        fmt: Format = "json",
        timeout_s: float = 30.0,
        max_concurrency: int = 8,
        max_requests_per_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        on_request: RequestHook | None = None,
    ) -> Client:
        return cls(
            Transport(
                url,
                key,
                fmt=fmt,
                timeout_s=timeout_s,
                max_concurrency=max_concurrency,
                max_requests_per_s=max_requests_per_s,
                retries=retries,
                backoff_s=backoff_s,
                on_request=on_request,
            )
        )

    def __repr__(self) -> str:
        return f"Client({self._transport!r})"

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- plumbing -----------------------------------------------------------------------------

    async def _one(self, method: str, model: type[ObjT], params: Mapping[str, object]) -> ObjT:
        data = await self._transport.call(method, params)
        return _validate(method, TypeAdapter(model), data)

    async def _many(
        self, method: str, model: type[ObjT], params: Mapping[str, object]
    ) -> list[ObjT]:
        data = await self._transport.call(method, params)
        return _validate(method, list_of(model), data)

    async def _paged(
        self, method: str, model: type[ObjT], params: Mapping[str, object]
    ) -> list[ObjT]:
        """Ask page 1, 2, ... and stop at an empty page or one identical to the one before."""
        items: list[Any] = []
        previous: list[Any] | None = None
        for page in range(1, MAX_PAGES + 1):
            data = as_list(await self._transport.call(method, {**params, "page": page}))
            if not data or data == previous:
                break
            if not isinstance(data, list):
                break
            items.extend(data)
            previous = data
        return _validate(method, list_of(model), items)

    async def _none(self, method: str, params: Mapping[str, object]) -> None:
        await self._transport.call(method, params)

    # -- extensions ---------------------------------------------------------------------------

    async def extension_list(
        self, *, active: bool | None = None, didmatch: str | None = None
    ) -> list[Extension]:
        return await self._many(
            "extensionList", Extension, {"active": active, "didmatch": didmatch}
        )

    async def extension_get(
        self, *, extensionid: int | None = None, did: str | None = None
    ) -> Extension:
        return await self._one("extensionGet", Extension, {"extensionid": extensionid, "did": did})

    async def extension_create(
        self,
        *,
        forward: str,
        countryid: str,
        regionid: str,
        ratecenter: str | None = None,
        city: str | None = None,
        startdate: int | None = None,
        enddate: int | None = None,
        alias: str | None = None,
        didmatch: str | None = None,
    ) -> Extension:
        params = {
            "forward": forward,
            "countryid": countryid,
            "regionid": regionid,
            "ratecenter": ratecenter,
            "city": city,
            "startdate": startdate,
            "enddate": enddate,
            "alias": alias,
            "didmatch": didmatch,
        }
        return await self._one("extensionCreate", Extension, params)

    async def extension_update(
        self,
        *,
        extensionid: int | None = None,
        did: str | None = None,
        forward: str | None = None,
        alias: str | None = None,
        startdate: int | None = None,
        enddate: int | None = None,
    ) -> Extension:
        params = {
            "extensionid": extensionid,
            "did": did,
            "forward": forward,
            "alias": alias,
            "startdate": startdate,
            "enddate": enddate,
        }
        return await self._one("extensionUpdate", Extension, params)

    async def extension_cancel(
        self, *, extensionid: int | None = None, did: str | None = None
    ) -> Extension:
        params = {"extensionid": extensionid, "did": did}
        return await self._one("extensionCancel", Extension, params)

    # -- calls --------------------------------------------------------------------------------

    async def call_records(
        self,
        *,
        startdate: int,
        enddate: int,
        extensionid: int | None = None,
        didmatch: str | None = None,
    ) -> list[CallRecord]:
        """Every call in [startdate, enddate] (inclusive, Unix seconds), all pages."""
        params = {
            "startdate": startdate,
            "enddate": enddate,
            "extensionid": extensionid,
            "didmatch": didmatch,
        }
        return await self._paged("callRecords", CallRecord, params)

    async def call_summary(
        self,
        *,
        startdate: int,
        enddate: int,
        extensionid: int | None = None,
        didmatch: str | None = None,
    ) -> CallSummary:
        params = {
            "startdate": startdate,
            "enddate": enddate,
            "extensionid": extensionid,
            "didmatch": didmatch,
        }
        return await self._one("callSummary", CallSummary, params)

    # -- voicemail and audio ------------------------------------------------------------------

    async def extension_voicemail_get(
        self, *, extensionid: int | None = None, did: str | None = None
    ) -> list[Voicemail]:
        params = {"extensionid": extensionid, "did": did}
        return await self._many("extensionVoicemailGet", Voicemail, params)

    async def extension_voicemail_set(
        self,
        *,
        vmid: str,
        extensionid: int | None = None,
        did: str | None = None,
        status: str = "deleted",
    ) -> None:
        params = {"extensionid": extensionid, "did": did, "vmid": vmid, "status": status}
        await self._none("extensionVoicemailSet", params)

    async def audioclip_get(self, *, clipid: str) -> Audioclip:
        return await self._one("audioclipGet", Audioclip, {"clipid": clipid})

    async def audioclip_list(self) -> list[Audioclip]:
        return await self._many("audioclipList", Audioclip, {})

    async def audioclip_set(self, *, clipid: str, clipname: str | None = None) -> Audioclip:
        return await self._one("audioclipSet", Audioclip, {"clipid": clipid, "clipname": clipname})

    async def audioclip_new(self, *, filedata: bytes, clipname: str | None = None) -> Audioclip:
        """Upload audio; `filesize` is always sent so the provider checks the decoded size."""
        params = {
            "filedata": base64.b64encode(filedata).decode("ascii"),
            "filesize": len(filedata),
            "clipname": clipname,
        }
        return await self._one("audioclipNew", Audioclip, params)

    # -- features -----------------------------------------------------------------------------

    async def extension_feature_get(
        self, *, name: str, extensionid: int | None = None, did: str | None = None
    ) -> Feature:
        params = {"extensionid": extensionid, "did": did, "name": name}
        return await self._one("extensionFeatureGet", Feature, params)

    async def extension_feature_set(
        self,
        *,
        name: str,
        status: bool,
        extensionid: int | None = None,
        did: str | None = None,
        options: Mapping[str, object] | None = None,
    ) -> Feature:
        """Per-feature options (e.g. `tz`, `clipid`) are sent as top-level parameters."""
        params: dict[str, object] = {
            "extensionid": extensionid,
            "did": did,
            "name": name,
            "status": status,
        }
        params.update(options or {})
        return await self._one("extensionFeatureSet", Feature, params)

    # -- numbers ------------------------------------------------------------------------------

    async def number_get_countries(self) -> list[Country]:
        return await self._many("numberGetCountries", Country, {})

    async def number_get_regions(self, *, countryid: str) -> list[Region]:
        return await self._many("numberGetRegions", Region, {"countryid": countryid})

    async def number_get_cities(self, *, countryid: str, regionid: str) -> list[City]:
        params = {"countryid": countryid, "regionid": regionid}
        return await self._many("numberGetCities", City, params)

    async def number_get_toll_free(self) -> list[TollFree]:
        return await self._many("numberGetTollFree", TollFree, {})

    async def number_list_pool(
        self, *, didmatch: str | None = None, status: str | None = None
    ) -> list[NumberPool]:
        params = {"didmatch": didmatch, "status": status}
        return await self._many("numberListPool", NumberPool, params)

    # -- text messages ------------------------------------------------------------------------

    async def sms_get(
        self, *, did: str, startdate: int, enddate: int, direction: str | None = None
    ) -> list[Sms]:
        """Every text to or from `did` in [startdate, enddate], all pages."""
        params = {"did": did, "startdate": startdate, "enddate": enddate, "direction": direction}
        return await self._paged("smsGet", Sms, params)


def _validate(method: str, adapter: TypeAdapter[T], data: Any) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise ApiMalformedReply(
            f"{method}: unexpected data at {where}: {first['msg']}",
            excerpt=repr(data)[:120],
        ) from exc
