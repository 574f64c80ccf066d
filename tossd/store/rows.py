"""Conversions between ORM rows and the plain values the store hands out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tossd.api.models import Extension
from tossd.errors import StoreError
from tossd.events import EventKind, NewEvent, StoredEvent, Stream
from tossd.store.records import KnownExtension, PollState
from tossd.store.tables import EventRow, ExtensionRow, PollStateRow


def encode_payload(event: NewEvent) -> str:
    """Canonical JSON (sorted keys, no spaces), so an unchanged payload encodes identically."""
    try:
        return json.dumps(
            dict(event.payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    except (TypeError, ValueError) as exc:
        raise StoreError(f"payload of {event.identity} is not JSON: {exc}") from exc


def decode_payload(row: EventRow) -> Mapping[str, Any]:
    try:
        payload = json.loads(row.payload)
    except ValueError as exc:
        raise StoreError(f"payload of {row.identity} is corrupt: {exc}") from exc
    if not isinstance(payload, dict):
        raise StoreError(f"payload of {row.identity} is not a JSON object")
    return payload


def new_event(event: NewEvent, payload: str, now: int) -> EventRow:
    return EventRow(
        kind=event.kind.value,
        extensionid=event.extensionid,
        identity=event.identity,
        occurred_at=event.occurred_at,
        recorded_at=now,
        announce=event.announce,
        payload=payload,
    )


def stored_event(row: EventRow) -> StoredEvent:
    if row.id is None:
        raise StoreError(f"event {row.identity} has no id yet (not flushed)")
    try:
        kind = EventKind(row.kind)
    except ValueError as exc:
        raise StoreError(f"event {row.identity} has an unknown kind {row.kind!r}") from exc
    return StoredEvent(
        id=row.id,
        kind=kind,
        extensionid=row.extensionid,
        identity=row.identity,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        announce=row.announce,
        payload=decode_payload(row),
    )


def new_extension(extension: Extension, now: int) -> ExtensionRow:
    """A first sighting; `update_extension` fills in the rest."""
    return ExtensionRow(
        extensionid=extension.extensionid,
        did="",
        alias="",
        forward="",
        startdate=0,
        enddate=0,
        first_seen_at=now,
        last_seen_at=now,
        active=False,
    )


def update_extension(row: ExtensionRow, extension: Extension, now: int) -> None:
    row.did = extension.did
    row.alias = extension.alias
    row.forward = extension.forward
    row.startdate = extension.startdate
    row.enddate = extension.enddate
    row.last_seen_at = now
    row.active = extension.is_active(now)


def known_extension(row: ExtensionRow) -> KnownExtension:
    return KnownExtension(
        extensionid=row.extensionid,
        did=row.did,
        alias=row.alias,
        startdate=row.startdate,
        enddate=row.enddate,
    )


def mark_success(row: PollStateRow, watermark: int | None, now: int) -> None:
    row.watermark = watermark
    row.last_success_at = now
    row.last_attempt_at = now
    row.last_error = None
    row.consecutive_failures = 0
    if row.first_polled_at is None:
        row.first_polled_at = now


def poll_state(row: PollStateRow) -> PollState:
    return PollState(
        extensionid=row.extensionid,
        stream=Stream(row.stream),
        watermark=row.watermark,
        last_success_at=row.last_success_at,
        last_attempt_at=row.last_attempt_at,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures,
        first_polled_at=row.first_polled_at,
    )
