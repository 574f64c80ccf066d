"""Conversions between database rows and the plain values the store hands out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tossd.domain import (
    DeliveryKind,
    DeliveryState,
    EventKind,
    KnownExtension,
    ListedExtension,
    NewEvent,
    StoredEvent,
    Transcript,
    TranscriptState,
)
from tossd.errors import StoreError
from tossd.store.records import Delivery
from tossd.store.tables import DeliveryRow, EventRow, ExtensionRow, TranscriptRow

# Built once: `json.dumps` with options constructs a new encoder for every payload.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode_payload(event: NewEvent) -> str:
    """Canonical JSON (sorted keys, no spaces), so an unchanged payload encodes identically."""
    try:
        return _ENCODER.encode(dict(event.payload))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"payload of {event.identity} is not JSON: {exc}") from exc


def decode_payload(row: EventRow) -> Mapping[str, Any]:
    return _decode(row.identity, row.payload)


def _decode(identity: str, text: str) -> Mapping[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"payload of {identity} is corrupt: {exc}") from exc
    if not isinstance(payload, dict):
        raise StoreError(f"payload of {identity} is not a JSON object")
    return payload


def event_values(event: NewEvent, payload: str, now: int) -> dict[str, Any]:
    """The columns of a new events row; the database assigns the id."""
    return {
        "kind": event.kind.value,
        "extensionid": event.extensionid,
        "identity": event.identity,
        "occurred_at": event.occurred_at,
        "recorded_at": now,
        "announce": event.announce,
        "payload": payload,
    }


def inserted_event(event: NewEvent, event_id: int, payload: str, now: int) -> StoredEvent:
    """What `stored_event` would read back from the row just inserted, without reading it.

    The payload is the same value a later read gives: a flat object of JSON scalars (what
    the API's records are) reads back equal to itself, so only other shapes are decoded from
    the stored text (a burst of records skips a JSON parse per event).
    """
    flat = all(isinstance(k, str) and type(v) in _SCALARS for k, v in event.payload.items())
    return StoredEvent(
        id=event_id,
        kind=event.kind,
        extensionid=event.extensionid,
        identity=event.identity,
        occurred_at=event.occurred_at,
        recorded_at=now,
        announce=event.announce,
        payload=dict(event.payload) if flat else _decode(event.identity, payload),
    )


# Types that read back from JSON as the same type and value.
_SCALARS = frozenset({str, int, float, bool, type(None)})


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


def new_extension(extension: ListedExtension, now: int) -> ExtensionRow:
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


def update_extension(row: ExtensionRow, extension: ListedExtension, now: int) -> None:
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


def delivery(row: DeliveryRow) -> Delivery:
    assert row.id is not None
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        kind=DeliveryKind(row.kind),
        route=row.route,
        target=row.target,
        target_label=row.target_label,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        held_until=row.held_until,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def transcript(row: TranscriptRow) -> Transcript:
    return Transcript(
        event_id=row.event_id,
        state=TranscriptState(row.state),
        text=row.text,
        engine=row.engine,
        attempts=row.attempts,
        error=row.last_error,
        took_ms=row.took_ms,
        updated_at=row.updated_at,
    )


def sort_batch(
    events: Sequence[NewEvent], payloads: Sequence[str], stored: dict[str, tuple[int, str]]
) -> tuple[list[int], dict[int, str], int]:
    """Positions of the unknown events, new payloads by event id, and how many changed.

    A second event of a known identity compares with the first one's payload, as with the
    row already updated; two of an unknown identity both go to the INSERT, which refuses them.
    """
    fresh: list[int] = []
    changed: dict[int, str] = {}
    updated = 0
    for index, (event, payload) in enumerate(zip(events, payloads, strict=True)):
        known = stored.get(event.identity)
        if known is None:
            fresh.append(index)
        elif changed.get(known[0], known[1]) != payload:
            changed[known[0]] = payload
            updated += 1
    return fresh, changed, updated
