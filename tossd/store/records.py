"""The plain frozen values the store hands out: callers never see an ORM row."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tossd.domain import DeliveryKind, DeliveryState, StoredEvent, Stream


@dataclass(frozen=True)
class ExtensionSync:
    """What `sync_extensions` changed: ids that became active, ids that stopped being active."""

    added: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PollState:
    """Bookkeeping of one (extension, stream); `first_polled_at` is None until a success."""

    extensionid: int
    stream: Stream
    watermark: int | None
    last_success_at: int | None
    last_attempt_at: int
    last_error: str | None
    consecutive_failures: int
    first_polled_at: int | None


@dataclass(frozen=True)
class BatchResult:
    """`new`: inserted now; `seen`: already stored (of which `updated` got a new payload)."""

    new: list[StoredEvent]
    updated: int
    seen: int


@dataclass(frozen=True)
class AudioFile:
    filename: str
    size: int
    sha256: str
    path: Path
    #: When the download was stored (Unix s): a transcript's wait counts from here.
    fetched_at: int = 0


@dataclass(frozen=True)
class PlannedDelivery:
    """A delivery the routing decided on, before it is a ledger row."""

    route: str
    target: str
    target_label: str
    held_until: int | None = None


@dataclass(frozen=True)
class Delivery:
    """One ledger row: one event (or report), one route, one target URL."""

    id: int
    event_id: int | None
    kind: DeliveryKind
    route: str
    target: str
    target_label: str
    state: DeliveryState
    attempts: int
    created_at: int
    next_attempt_at: int
    held_until: int | None
    sent_at: int | None
    last_error: str | None


class Closable:
    """`with` support for the store's objects that hold an engine: closed on leaving."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def poll_state_of(row: Any) -> PollState:
    """From a row of `poll_state` read with Core (attribute access by column name)."""
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


def covering(own: PollState | None, account: PollState | None) -> PollState | None:
    """The state that says when a number's stream was last covered: its own poll, or an
    account-wide one (extension id 0), whichever succeeded last."""
    if own is None or account is None:
        return own or account
    if (account.last_success_at or -1) > (own.last_success_at or -1):
        return account
    return own
