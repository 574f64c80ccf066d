"""The sandbox's read side of traffic: calls, summaries and texts, paged and published late."""

from __future__ import annotations

from tossd.sandbox import catalog
from tossd.sandbox.activity import Traffic
from tossd.sandbox.catalog import MethodError, Params, Record, choice, digits, integer, need, value
from tossd.sandbox.quirks import NO_SMS_MESSAGE, Quirks


def summary(calls: list[Record]) -> Record:
    minutes = [c["duration"] for c in calls] or [0]
    starts = [c["startdate"] for c in calls] or [0]
    return {
        "firstcall": min(starts),
        "lastcall": max(starts),
        "minduration": min(minutes),
        "maxduration": max(minutes),
        "avgduration": round(sum(minutes) / len(calls), 2) if calls else 0.0,
        "totalduration": sum(minutes),
        "totalcalls": len(calls),
    }


class Listings(Traffic):
    """Lists what happened, as the provider's quirks allow: late, per number or account-wide."""

    def __init__(self, *, page_size: int = 50) -> None:
        super().__init__()
        self.page_size = page_size
        self.quirks = Quirks()

    def calls_in(self, params: Params, now: int) -> list[Record]:
        """`callRecords`' rows (all pages): the window, the filters, and only what is listed."""
        need(params, "startdate", "enddate")
        if not self.quirks.account_wide_calls:
            need(params, "extensionid")
        low, high = integer(params, "startdate"), integer(params, "enddate")
        extensionid = integer(params, "extensionid", 0)
        pattern = value(params, "didmatch")
        # Without a lag, whatever a test recorded is listed, even ahead of the sandbox's clock.
        lag = self.quirks.call_lag_s
        listed_by = now - lag if lag else None
        return [
            c
            for c in self.calls
            if low <= c["startdate"] <= high
            and (listed_by is None or c["startdate"] <= listed_by)
            and extensionid in (0, c["extensionid"])
            and catalog.did_matches(c["callednum"], pattern)
        ]

    def page(self, rows: list[Record], params: Params) -> list[Record]:
        page = integer(params, "page", 1)
        if page < 1:
            raise MethodError("Invalid value for page: pages start at 1")
        first = (page - 1) * self.page_size
        return [dict(r) for r in rows[first : first + self.page_size]]

    def voicemails_listed(self, extensionid: int, now: int) -> list[Record]:
        lag = self.quirks.voicemail_lag_s
        box = self.voicemails.get(extensionid, [])
        return [dict(v) for v in box if not lag or v["timestamp"] <= now - lag]

    def sms_get(self, params: Params, now: int) -> list[Record]:
        if not self.quirks.sms_enabled:
            raise MethodError(NO_SMS_MESSAGE)
        if self.quirks.account_wide_sms:
            need(params, "startdate", "enddate", "page")
        else:
            need(params, "did", "startdate", "enddate", "page")
        did = digits(value(params, "did"))
        low, high = integer(params, "startdate"), integer(params, "enddate")
        direction = choice(params, "direction", ("in", "out"))
        rows = [
            s
            for s in self.sms
            if (not did or digits(catalog.sms_did(s)) == did)
            and low <= s["timestamp"] <= high
            and direction in ("", s["direction"])
        ]
        return self.page(rows, params)
