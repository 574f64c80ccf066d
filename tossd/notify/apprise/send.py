"""Sending one message to one Apprise URL: the only place that reads Apprise's result."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import apprise
from apprise.attachment.file import AttachFile

from tossd.domain import TargetKind
from tossd.notify.apprise.kinds import load, secret_parts
from tossd.notify.message import Message, SendResult
from tossd.text.masking import redact
from tossd.text.untrusted import one_line


async def send(
    url: str, message: Message, *, kind: TargetKind, timeout_s: float = 30
) -> SendResult:
    """Deliver `message` to the one target `url`; failures come back as SendResult(ok=False).

    Apprise has no native async delivery (its async_notify runs each plugin's blocking send()
    in a thread pool), so the whole call runs in a worker thread and the event loop never
    waits on SMTP or HTTP. `kind` is what the renderer prepared the text for; every kind goes
    to Apprise as TEXT, which Apprise escapes itself where a service renders HTML or markdown.
    """
    if kind not in set(TargetKind):
        raise ValueError(f"unknown target kind {kind!r}")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    return await _in_daemon_thread(_deliver, url, message, timeout_s)


async def _in_daemon_thread(
    func: Callable[[str, Message, float], SendResult], *args: Any
) -> SendResult:
    """Like asyncio.to_thread, but on a daemon thread: asyncio.run joins the default
    executor at exit, so a send stuck past the stop grace would hold SIGTERM hostage. Here
    the process may exit under it; its ledger row stays pending and is sent again later."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[SendResult] = loop.create_future()

    def settle(outcome: SendResult | BaseException) -> None:
        if future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def work() -> None:
        try:
            outcome: SendResult | BaseException = func(*args)
        except Exception as exc:  # handed to the awaiting task, which raises it
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name="tossd-send", daemon=True).start()
    return await future


def _deliver(url: str, message: Message, timeout_s: float) -> SendResult:
    """The one place that reads Apprise's result: an Apprise holding only `url`, one send."""
    plugin, reason = load(url)
    if plugin is None:
        return SendResult(ok=False, error=reason)
    attach = apprise.AppriseAttachment(
        [
            AttachFile(str(a.path), name=a.name, mimetype=a.mime)  # type: ignore[no-untyped-call]
            for a in message.attachments
        ]
    )
    # HTML only where we rendered it ourselves (the report, for email); everything else is
    # text, which Apprise escapes per service.
    body, body_format = message.body, apprise.NotifyFormat.TEXT
    if message.html is not None:
        body, body_format = message.html, apprise.NotifyFormat.HTML
    with apprise.Apprise(plugin).notify(
        body=body,
        title=message.title,
        body_format=body_format,
        attach=attach if message.attachments else None,
        timeout=timeout_s,
    ) as result:
        if result:
            return SendResult(ok=True)
        # Apprise captured this one target's WARNING+ lines per attempt: they are the reason,
        # with every secret of the URL masked.
        lines = list(dict.fromkeys(entry.message for entry in result.logs()))
        if result.status == apprise.AppriseResultStatus.TIMEOUT:
            lines.insert(0, f"no answer within {timeout_s:g} s")
        text = "; ".join(lines) or f"Apprise reported {result.status.name} without a reason"
        return SendResult(ok=False, error=one_line(redact(text, secret_parts(url)), max_len=300))
