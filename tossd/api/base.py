"""The client's plumbing: one call in, typed objects out, paging, validation errors."""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

import structlog
from pydantic import TypeAdapter, ValidationError

from tossd.api.models import ApiObject, as_list
from tossd.errors import ApiMalformedReply

log = structlog.get_logger(__name__)

T = TypeVar("T")
ObjT = TypeVar("ObjT", bound=ApiObject)

#: A server that ignores `page` would otherwise be asked forever.
MAX_PAGES = 1000


class Caller(Protocol):
    """What the client needs from a transport: one method call in, the envelope's data out."""

    async def call(self, method: str, params: Mapping[str, object]) -> Any: ...

    async def aclose(self) -> None: ...

    #: Whether a method may be sent now (None: always); see `Client.withhold_unless`.
    gate: Callable[[str], bool] | None


class ClientBase:
    """Holds the transport; subclasses add one typed coroutine per API method."""

    def __init__(self, transport: Caller, *, max_pages: int = MAX_PAGES) -> None:
        self._transport = transport
        self._max_pages = max_pages
        # The longest page each method has shown to be full (another page followed it).
        self._full_pages: dict[str, int] = {}

    async def _one(self, method: str, model: type[ObjT], params: Mapping[str, object]) -> ObjT:
        data = await self._transport.call(method, params)
        return _validate(method, _adapter(model), data)

    async def _many(
        self, method: str, model: type[ObjT], params: Mapping[str, object]
    ) -> list[ObjT]:
        data = await self._transport.call(method, params)
        return _validate_items(method, model, _listed(method, data))

    async def _paged(
        self, method: str, model: type[ObjT], params: Mapping[str, object]
    ) -> list[ObjT]:
        """Ask page 1, 2, ... and stop at an empty page or one identical to the one before,
        or at a page shorter than a full one of this method: most windows fit one page, so
        once the page size is known a quiet poll costs one request, not two."""
        items: list[Any] = []
        previous: list[Any] | None = None
        full = self._full_pages.get(method)
        for page in range(1, self._max_pages + 1):
            data = _listed(method, await self._transport.call(method, {**params, "page": page}))
            if not data or data == previous:
                break
            items.extend(data)
            if previous is not None:
                full = self._full_pages[method] = max(full or 0, len(previous))
            previous = data
            if full is not None and len(data) < full:
                break
        else:
            # A server handing out a new page for every number would be asked forever, and
            # a listing cut short would pass for a whole one: fail the poll, say why.
            log.warning("api.page_limit", method=method, pages=self._max_pages)
            raise ApiMalformedReply(
                f"{method}: still more pages after {self._max_pages}; "
                "the reply was not used (retried on the next poll)",
                excerpt=_SHORT.repr(previous)[:120],
            )
        return _validate_items(method, model, items)

    async def _none(self, method: str, params: Mapping[str, object]) -> None:
        await self._transport.call(method, params)


def _validate(method: str, adapter: TypeAdapter[T], data: Any) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise _malformed(method, exc, data) from exc


def _malformed(method: str, exc: ValidationError, data: Any, where: str = "") -> ApiMalformedReply:
    """The typed error for a record that did not validate: where, why, a bounded excerpt."""
    first = exc.errors(include_input=False, include_url=False)[0]
    path = ".".join([where, *(str(part) for part in first["loc"])]).strip(".") or "data"
    return ApiMalformedReply(
        f"{method}: unexpected data at {path}: {first['msg']}",
        # reprlib: a hostile reply may be huge; never build its whole repr.
        excerpt=_SHORT.repr(data)[:120],
    )


def _listed(method: str, data: Any) -> list[Any]:
    """`data` where the method answers with a list: a PHP array with integer keys and an
    empty value are lists; any other shape (one bare object, a string, a number) is a wrong
    reply, never read as an empty listing (that would pass over the records it lost)."""
    listed = as_list(data)
    if not isinstance(listed, list):
        raise ApiMalformedReply(
            f"{method}: expected a list, got {type(data).__name__}",
            excerpt=_SHORT.repr(data)[:120],
        )
    return listed


def _validate_items(method: str, model: type[ObjT], data: list[Any]) -> list[ObjT]:
    """Item by item: a bad record is skipped (logged once per reply, with the first one's
    reason), so it never blocks the good ones beside it. A reply of bad records only is a
    wrong reply (a failed poll, retried), never a silent empty listing."""
    adapter = _adapter(model)
    good: list[ObjT] = []
    first: ApiMalformedReply | None = None
    for index, item in enumerate(data):
        try:
            good.append(adapter.validate_python(item))
        except ValidationError as exc:
            # Only the first bad record's reason is worded: a reply of 100k bad records
            # then costs one message, not 100k.
            first = first or _malformed(method, exc, item, str(index))
    if first is None:
        return good
    if not good:
        raise first
    log.warning(
        "api.records_skipped",
        method=method,
        skipped=len(data) - len(good),
        kept=len(good),
        error=first.message,
        excerpt=first.excerpt,
    )
    return good


_ADAPTERS: dict[type[ApiObject], TypeAdapter[Any]] = {}


def _adapter(model: type[ObjT]) -> TypeAdapter[ObjT]:
    """One adapter per model: building one costs more than validating a record."""
    if model not in _ADAPTERS:
        _ADAPTERS[model] = TypeAdapter(model)
    return cast(TypeAdapter[ObjT], _ADAPTERS[model])


_SHORT = reprlib.Repr()  # keyword arguments arrive in Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60
