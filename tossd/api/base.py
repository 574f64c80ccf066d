"""The client's plumbing: one call in, typed objects out, paging, validation errors."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from tossd.api.models import ApiObject, as_list, list_of
from tossd.errors import ApiMalformedReply

T = TypeVar("T")
ObjT = TypeVar("ObjT", bound=ApiObject)

#: A server that ignores `page` would otherwise be asked forever.
MAX_PAGES = 1000


class Caller(Protocol):
    """What the client needs from a transport: one method call in, the envelope's data out."""

    async def call(self, method: str, params: Mapping[str, object]) -> Any: ...

    async def aclose(self) -> None: ...


class ClientBase:
    """Holds the transport; subclasses add one typed coroutine per API method."""

    def __init__(self, transport: Caller) -> None:
        self._transport = transport
        # The longest page each method has shown to be full (another page followed it).
        self._full_pages: dict[str, int] = {}

    async def _one(self, method: str, model: type[ObjT], params: Mapping[str, object]) -> ObjT:
        data = await self._transport.call(method, params)
        return _validate(method, _adapter(model), data)

    async def _many(
        self, method: str, model: type[ObjT], params: Mapping[str, object]
    ) -> list[ObjT]:
        data = await self._transport.call(method, params)
        return _validate_items(method, model, as_list(data))

    async def _paged(
        self, method: str, model: type[ObjT], params: Mapping[str, object]
    ) -> list[ObjT]:
        """Ask page 1, 2, ... and stop at an empty page or one identical to the one before,
        or at a page shorter than a full one of this method: most windows fit one page, so
        once the page size is known a quiet poll costs one request, not two."""
        items: list[Any] = []
        previous: list[Any] | None = None
        full = self._full_pages.get(method)
        for page in range(1, MAX_PAGES + 1):
            data = as_list(await self._transport.call(method, {**params, "page": page}))
            if not data or data == previous:
                break
            if not isinstance(data, list):
                break
            items.extend(data)
            if previous is not None:
                full = self._full_pages[method] = max(full or 0, len(previous))
            previous = data
            if full is not None and len(data) < full:
                break
        return _validate_items(method, model, items)

    async def _none(self, method: str, params: Mapping[str, object]) -> None:
        await self._transport.call(method, params)


def _validate(method: str, adapter: TypeAdapter[T], data: Any, where: str = "") -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        path = ".".join([where, *(str(part) for part in first["loc"])]).strip(".") or "data"
        raise ApiMalformedReply(
            f"{method}: unexpected data at {path}: {first['msg']}",
            # reprlib: a hostile reply may be huge; never build its whole repr.
            excerpt=_SHORT.repr(data)[:120],
        ) from exc


def _validate_items(method: str, model: type[ObjT], data: Any) -> list[ObjT]:
    """Item by item, stopping at the first bad one: a huge reply of bad records costs one
    error, not one per record (pydantic collects them all)."""
    if not isinstance(data, list):
        return _validate(method, list_of(model), data)
    adapter = _adapter(model)
    return [_validate(method, adapter, item, str(index)) for index, item in enumerate(data)]


_ADAPTERS: dict[type[ApiObject], TypeAdapter[Any]] = {}


def _adapter(model: type[ObjT]) -> TypeAdapter[ObjT]:
    """One adapter per model: building one costs more than validating a record."""
    if model not in _ADAPTERS:
        _ADAPTERS[model] = TypeAdapter(model)
    return cast(TypeAdapter[ObjT], _ADAPTERS[model])


_SHORT = reprlib.Repr()  # keyword arguments arrive in Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60
