"""The Tossable Digits client: one typed coroutine per API method, paging included."""

from __future__ import annotations

from collections.abc import Callable

from tossd.api.account import AccountMethods
from tossd.api.base import MAX_PAGES as MAX_PAGES
from tossd.api.models import Audioclip, CallRecord, CallSummary, Extension, Sms, Voicemail
from tossd.api.options import ApiOptions
from tossd.api.transport import RequestHook, Transport


class Client(AccountMethods):
    """Async client for https://www.TossableDigits.com/apihttp.php (or the sandbox).

    Parameters follow the provider's names; `None` means "not sent". Every reply is validated
    into the typed objects of `tossd.api.models`; a reply that does not fit raises
    `ApiMalformedReply` naming the method.
    """

    @classmethod
    def connect(
        cls,
        options: ApiOptions,
        key: str,
        *,
        on_request: RequestHook | None = None,
        user_agent: str | None = None,
    ) -> Client:
        """A client with its own HTTP pools; close it with `aclose` (or `async with`)."""
        return cls(Transport(options, key, on_request=on_request, user_agent=user_agent))

    def __repr__(self) -> str:
        return f"Client({self._transport!r})"

    async def aclose(self) -> None:
        await self._transport.aclose()

    def withhold_unless(self, gate: Callable[[str], bool]) -> None:
        """From now on a call of `method` is sent only while `gate(method)` holds, checked
        right before each request (`ApiCallWithheld` otherwise): a poller that lost its
        leadership mid-cycle stops at once, its paged queries and downloads included."""
        self._transport.gate = gate

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

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

    # -- text messages ------------------------------------------------------------------------

    async def sms_get(
        self, *, startdate: int, enddate: int, did: str | None = None, direction: str | None = None
    ) -> list[Sms]:
        """Every text to or from `did` (None: the whole account) in [startdate, enddate]."""
        params = {"did": did, "startdate": startdate, "enddate": enddate, "direction": direction}
        return await self._paged("smsGet", Sms, params)
