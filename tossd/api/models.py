"""Typed objects of the Tossable Digits API, tolerant of what the provider really sends.

Numbers may arrive as strings, empty strings stand for "no value", lists may arrive as
PHP arrays with integer keys, ids stay strings, and unknown fields are ignored.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

#: The widest integer any field may hold: JSON-safe, and inside the store's BIGINT columns
#: (a wider one would raise OverflowError in the database driver, far from the edge).
MAX_INT = 2**53
#: Extension ids live in an INTEGER column (32 bits on PostgreSQL).
MAX_EXTENSIONID = 2**31 - 1
#: 3000-01-01 UTC: far past any real record, and far enough from year 9999 that no time
#: zone turns a timestamp into a date Python cannot represent (`ValueError: year 10000`).
MAX_TIMESTAMP = 32503680000


def _int_or_zero(value: Any) -> Any:
    """Blank values (`""`, null) mean 0; `"12.0"` still means 12."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = float(text)
            return int(number) if number.is_integer() else value
    if isinstance(value, bool):
        return int(value)
    return value


def _within(low: int, high: int) -> Any:
    """A bound checked after coercion: `"1e30"` and 2**63 are malformed, not stored."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"{value} is outside [{low}, {high}]")
        return value

    return check


def _clamped_date(value: int) -> int:
    """Extension dates are only compared and shown: a "forever" enddate (9999-12-31) is
    the same promise at the bound, and never a date no time zone can show."""
    return min(value, MAX_TIMESTAMP)


def _float_or_zero(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0.0
    return value


def _text(value: Any) -> Any:
    """Ids and numbers we keep as text: ints become strings, null becomes empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return value


def as_list(value: Any) -> Any:
    """A PHP array with integer keys (`{"0": a, "1": b}`) is a list; so is an empty `{}`."""
    if isinstance(value, dict):
        try:
            keys = sorted(value, key=int)
        except (TypeError, ValueError):
            return value
        return [value[key] for key in keys]
    if value is None or value == "":
        return []
    return value


Int = Annotated[int, BeforeValidator(_int_or_zero), AfterValidator(_within(-MAX_INT, MAX_INT))]
#: When a record happened: an impossible date makes the record malformed (skipped, logged).
Timestamp = Annotated[int, BeforeValidator(_int_or_zero), AfterValidator(_within(0, MAX_TIMESTAMP))]
#: An extension's start or end: a date past the bound is clamped to it.
ExtensionDate = Annotated[
    int,
    BeforeValidator(_int_or_zero),
    AfterValidator(_within(0, MAX_INT)),
    AfterValidator(_clamped_date),
]
#: Seconds or minutes a call or recording lasted: never negative, and within a 32-bit INT.
Duration = Annotated[
    int, BeforeValidator(_int_or_zero), AfterValidator(_within(0, MAX_EXTENSIONID))
]
ExtensionId = Annotated[
    int, BeforeValidator(_int_or_zero), AfterValidator(_within(0, MAX_EXTENSIONID))
]
Float = Annotated[float, BeforeValidator(_float_or_zero), Field(allow_inf_nan=False)]
Text = Annotated[str, BeforeValidator(_text)]


class ApiObject(BaseModel):
    """Common rules: frozen, unknown fields ignored, numbers coerced."""

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class Extension(ApiObject):
    extensionid: ExtensionId
    did: Text = ""
    forward: Text = ""
    added: ExtensionDate = 0
    startdate: ExtensionDate = 0
    enddate: ExtensionDate = 0
    alias: Text = ""

    def is_active(self, now: int) -> bool:
        """Open-ended (enddate 0) or ending in the future, and already started."""
        return self.startdate <= now and (self.enddate == 0 or self.enddate > now)


class CallRecord(ApiObject):
    startdate: Timestamp
    duration: Duration = 0
    extensionid: ExtensionId = 0
    callednum: Text = ""
    forwardnum: Text = ""
    callernum: Text = ""
    callername: Text = ""
    status: Text = ""
    seconds: Duration = 0


class CallSummary(ApiObject):
    firstcall: Timestamp = 0
    lastcall: Timestamp = 0
    minduration: Int = 0
    maxduration: Int = 0
    avgduration: Float = 0.0
    totalduration: Int = 0
    totalcalls: Int = 0


class Voicemail(ApiObject):
    vmid: Text
    calleridname: Text = ""
    callerid: Text = ""
    callback: Text = ""
    timestamp: Timestamp = 0
    length: Duration = 0
    clipid: Text = ""


class Audioclip(ApiObject):
    clipid: Text
    clipname: Text = ""
    filesize: Int = 0
    duration: Int = 0
    added: Timestamp = 0
    cliptype: Text = ""
    filedata: Text = ""

    def audio(self) -> bytes:
        """The decoded MP3 bytes (empty unless this came from `audioclipGet`)."""
        try:
            return base64.b64decode(self.filedata, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"clip {self.clipid}: filedata is not base64") from exc


class Feature(ApiObject):
    feature: Text = ""
    status: Int = 0
    options: Annotated[dict[str, Text], BeforeValidator(lambda v: v or {})] = Field(
        default_factory=dict
    )


class Country(ApiObject):
    countryid: Text
    countryname: Text = ""
    countrycode: Int = 0


class Region(ApiObject):
    regionid: Text
    regionname: Text = ""


class City(ApiObject):
    countryid: Text = ""
    regionid: Text = ""
    ratecenter: Text = ""
    city: Text = ""
    prefix: Text = ""
    rate_monthly: Float = 0.0
    rate_setup: Float = 0.0


class TollFree(City):
    tftype: Int = 0


class NumberPool(ApiObject):
    did: Text
    status: Text = ""
    extensionid: ExtensionId = 0


class Sms(ApiObject):
    smsid: Text
    source: Text = ""
    destination: Text = ""
    message: Text = ""
    timestamp: Timestamp = 0
    direction: Text = ""


SmsDirection = Literal["in", "out"]

T = TypeVar("T", bound=ApiObject)


def list_of(model: type[T]) -> TypeAdapter[list[T]]:
    """A validator for `data` that is a list of `model` (PHP integer-keyed arrays accepted)."""
    return TypeAdapter(Annotated[list[model], BeforeValidator(as_list)])  # type: ignore[valid-type,arg-type]
