"""A stand-in for systemd's end of NOTIFY_SOCKET: a bound AF_UNIX datagram socket."""

from __future__ import annotations

import asyncio
import socket


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET: one bound datagram socket.

    `timeout` bounds a blocking `receive()`; 0 makes the socket non-blocking, which the
    event loop's reads (`next_datagram`, `wait_for_message`) need.
    """

    def __init__(self, address: str | bytes, *, timeout: float = 2.0) -> None:
        self.address = address
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        # A test never waits on a message that was not sent.
        self.sock.settimeout(timeout)

    @property
    def env_value(self) -> str:
        """What NOTIFY_SOCKET says: the path, or `@name` in the abstract namespace."""
        if isinstance(self.address, bytes):
            return "@" + self.address[1:].decode()
        return self.address

    def receive(self) -> bytes:
        return self.sock.recv(4096)

    def pending(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        return True

    async def next_datagram(self, timeout: float = 30) -> str:
        loop = asyncio.get_running_loop()
        return (await asyncio.wait_for(loop.sock_recv(self.sock, 4096), timeout)).decode()

    async def wait_for_message(self, prefix: str, timeout: float = 30) -> list[str]:
        """Every datagram up to and including the first with a line starting with `prefix`."""
        seen: list[str] = []
        async with asyncio.timeout(timeout):
            while not any(line.startswith(prefix) for d in seen for line in d.splitlines()):
                seen.append(await self.next_datagram())
        return seen

    def close(self) -> None:
        self.sock.close()
