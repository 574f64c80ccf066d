"""Plain values shared by the notify package: what a target is, what a message is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tossd.domain import TargetKind


@dataclass(frozen=True)
class Attachment:
    """A file to attach; `name` is one we made (never text from the API)."""

    path: Path
    name: str
    size: int
    mime: str = "audio/mpeg"


@dataclass(frozen=True)
class Message:
    """One notification, ready for one target."""

    title: str
    body: str
    attachments: tuple[Attachment, ...] = field(default=())
    #: An HTML rendering for email targets (the report); None: send `body` as text.
    html: str | None = None


@dataclass(frozen=True)
class TargetInfo:
    """What tossd knows of one Apprise URL without sending anything."""

    scheme: str
    kind: TargetKind
    supports_attachments: bool
    #: Largest attachment total, counted on the base64-encoded size (what travels).
    attachment_cap_bytes: int


@dataclass(frozen=True)
class SendResult:
    """The outcome of sending one message to one target URL."""

    ok: bool
    #: Why it failed, with every secret of the URL masked; None when ok.
    error: str | None = None


def encoded_size(raw_bytes: int) -> int:
    """Size after base64 (how attachments travel in mail and JSON): 4 bytes per 3, padded."""
    return 4 * ((raw_bytes + 2) // 3)


def encode_message(message: Message) -> str:
    """A report's or an alert's message, stored in its ledger rows until sent."""
    files = [
        {"path": str(a.path), "name": a.name, "size": a.size, "mime": a.mime}
        for a in message.attachments
    ]
    data = {"title": message.title, "body": message.body, "html": message.html}
    return json.dumps({**data, "attachments": files})


def decode_message(payload: str) -> Message:
    data = json.loads(payload)
    files = tuple(
        Attachment(Path(f["path"]), f["name"], int(f["size"]), f["mime"])
        for f in data.get("attachments", [])
        if Path(f["path"]).is_file()
    )
    html = data.get("html")
    return Message(
        str(data.get("title", "")), str(data.get("body", "")), files, html if html else None
    )
