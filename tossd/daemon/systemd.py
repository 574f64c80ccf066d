"""The sd_notify protocol: READY, STATUS, WATCHDOG and STOPPING datagrams to systemd."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping

import structlog

from tossd.domain import StreamReport

log = structlog.get_logger(__name__)

_FIELD = re.compile(r"^[A-Z][A-Z0-9_]*$")
#: systemd reads at most this much of one status line; longer ones are cut, not refused.
MAX_STATUS_CHARS = 1000


class NotifyError(OSError):
    """The notify socket refused a message (or there is no usable one)."""


def notify_address(value: str) -> str | bytes:
    """The socket address of a $NOTIFY_SOCKET value: a path, or `@name` (abstract namespace).

    `vsock:` and relative addresses (newer systemd, containers) are not supported.
    """
    if value.startswith("@") and len(value) > 1:
        # Linux's abstract namespace: a leading NUL byte instead of a path on disk.
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    raise NotifyError(f"unsupported NOTIFY_SOCKET address {value!r}")


def watchdog_interval(env: Mapping[str, str], *, pid: int | None = None) -> float | None:
    """Seconds between two WATCHDOG=1 pings (half of WatchdogSec=), or None: no watchdog.

    Like sd_watchdog_enabled(3): $WATCHDOG_PID, when set, must be this process (`pid`).
    """
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != (os.getpid() if pid is None else pid)):
        return None
    return int(usec) / 1_000_000 / 2


class Notifier:
    """Sends sd_notify(3) messages; a failure is logged and returned, never raised.

    systemd keeps running a service whose notifications fail (only the watchdog would then
    kill it), so a broken socket must not take the daemon down; it is logged once when it
    starts failing and once when it recovers, not at every ping.
    """

    def __init__(self, address: str | bytes) -> None:
        self._address = address
        self._socket: socket.socket | None = None
        self._failing = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Notifier | None:
        """A notifier for $NOTIFY_SOCKET; None when unset (not started by systemd).

        An unusable value is logged and treated as unset: tossd runs on without systemd.
        """
        value = env.get("NOTIFY_SOCKET", "")
        if not value:
            return None
        try:
            return cls(notify_address(value))
        except NotifyError as exc:
            log.warning("systemd.notify_unsupported", error=str(exc))
            return None

    def send(self, **fields: str | int) -> bool:
        """Send one message of `KEY=value` lines; True when the socket took it."""
        try:
            self._send(_message(fields))
        except OSError as exc:
            if not self._failing:
                log.warning(
                    "systemd.notify_failed",
                    fields=sorted(fields),
                    error=exc.strerror or str(exc),
                    error_type=type(exc).__name__,
                )
            self._failing = True
            return False
        if self._failing:
            log.info("systemd.notify_recovered")
        self._failing = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (Type=notify services are "starting" until then)."""
        if status is None:
            return self.send(READY=1)
        return self.send(READY=1, STATUS=_one_line(status))

    def status(self, text: str) -> bool:
        """The free-form line `systemctl status` shows."""
        return self.send(STATUS=_one_line(text))

    def watchdog(self) -> bool:
        """The event loop is alive; due every `watchdog_interval` seconds."""
        return self.send(WATCHDOG=1)

    def stopping(self) -> bool:
        return self.send(STOPPING=1, STATUS="stopping")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, data: bytes) -> None:
        if self._socket is None:
            # Non-blocking: a datagram that cannot be queued (systemd not reading) fails
            # at once with EAGAIN instead of stalling the event loop that sends the pings.
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        sent = self._socket.sendto(data, self._address)
        if sent != len(data):
            raise NotifyError(f"notify socket took {sent} of {len(data)} bytes")


def _message(fields: Mapping[str, str | int]) -> bytes:
    if not fields:
        raise ValueError("an sd_notify message needs at least one field")
    lines = []
    for key, value in fields.items():
        text = str(value)
        if not _FIELD.match(key) or "\n" in text:
            # A programming error, not an I/O one: a newline would inject another field.
            raise ValueError(f"invalid sd_notify field {key}={text!r}")
        lines.append(f"{key}={text}")
    return ("\n".join(lines) + "\n").encode()


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_STATUS_CHARS]


def status_line(reports: Iterable[StreamReport]) -> str:
    """The STATUS= text: the latest poll of each stream, how it went and what was new."""
    parts = []
    for report in reports:
        part = (
            f"{report.stream.value}: {report.extensions} numbers, {report.failed} failed, "
            f"{report.new} new ({report.announced} announced)"
        )
        parts.append(part + ", API key rejected" if report.key_rejected else part)
    return "; ".join(parts) if parts else "started, nothing polled yet"
