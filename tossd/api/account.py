"""API methods tossd does not poll itself, for scripting: greetings, features, numbers."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from tossd.api.base import ClientBase
from tossd.api.models import Audioclip, City, Country, Feature, NumberPool, Region, TollFree


class AccountMethods(ClientBase):
    """Outgoing audio clips, per-extension features, and the catalogue of numbers for sale."""

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
