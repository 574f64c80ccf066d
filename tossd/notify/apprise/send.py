"""Sending one message to one Apprise URL: the only place that reads Apprise's result."""

from __future__ import annotations

import asyncio
import contextlib
import queue
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

    def work() -> Callable[[], None]:
        try:
            outcome: SendResult | BaseException = func(*args)
        except Exception as exc:  # handed to the awaiting task, which raises it
            outcome = exc

        def tell() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(settle, outcome)

        return tell

    _SENDERS.submit(work)
    return await future


#: A blocking send; it returns how to tell its result, which its thread calls once it is
#: free for the next send (so a send awaited right after reuses it).
Job = Callable[[], Callable[[], None]]


class _Senders:
    """Daemon threads for blocking sends, kept for reuse: starting a thread per send made
    the event loop wait for each new thread to get the GIL (up to the interpreter's switch
    interval while other sends run). A thread left idle for IDLE_S ends; a hung send holds
    only its own thread (the lanes bound how many may hang).

    Every thread waiting for work is counted in `_idle` or has a job queued for it, so a
    queued job always has a thread to run it.
    """

    IDLE_S = 60.0

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, job: Job) -> None:
        with self._lock:
            waiting = self._idle > 0
            if waiting:
                self._idle -= 1
                self._jobs.put(job)
        if not waiting:
            threading.Thread(target=self._run, args=(job,), name="tossd-send", daemon=True).start()

    def _run(self, job: Job | None) -> None:
        thread = threading.current_thread()
        while job is not None:
            thread.name = "tossd-send"  # as a thread dump shows it: busy, or idle
            tell = job()
            thread.name = "tossd-send-idle"
            with self._lock:
                self._idle += 1
            tell()
            job = self._next()

    def _next(self) -> Job | None:
        """The next job, or None once idle for IDLE_S with nothing queued: the thread ends."""
        while True:
            try:
                return self._jobs.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._idle -= 1
                        return None
            # A job came just as the wait ended: wait again (this or another thread runs it).


_SENDERS = _Senders()


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
