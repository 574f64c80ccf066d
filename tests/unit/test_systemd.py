"""The sd_notify client against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support.systemd import FakeSystemd

from tossd.daemon.systemd import (
    Notifier,
    NotifyError,
    notify_address,
    status_line,
    watchdog_interval,
)
from tossd.domain import Stream, StreamReport


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    yield fake
    fake.close()


@pytest.fixture
def abstract_systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd(b"\0tossd-test-" + secrets.token_hex(8).encode())
    yield fake
    fake.close()


@pytest.fixture
def notifier(systemd: FakeSystemd) -> Iterator[Notifier]:
    made = Notifier.from_env({"NOTIFY_SOCKET": systemd.env_value})
    assert made is not None
    yield made
    made.close()


def test_ready_status_watchdog_stopping_arrive_exactly(
    notifier: Notifier, systemd: FakeSystemd
) -> None:
    assert notifier.ready()
    assert systemd.receive() == b"READY=1\n"
    assert notifier.status("calls: 4 numbers,\n0 failed")
    assert systemd.receive() == b"STATUS=calls: 4 numbers, 0 failed\n"
    assert notifier.watchdog()
    assert systemd.receive() == b"WATCHDOG=1\n"
    assert notifier.stopping()
    assert systemd.receive() == b"STOPPING=1\nSTATUS=stopping\n"
    assert not systemd.pending()


def test_ready_with_a_status_is_one_datagram(notifier: Notifier, systemd: FakeSystemd) -> None:
    assert notifier.ready("polling 3 streams")
    assert systemd.receive() == b"READY=1\nSTATUS=polling 3 streams\n"
    assert not systemd.pending()


def test_abstract_namespace_socket(abstract_systemd: FakeSystemd) -> None:
    assert abstract_systemd.env_value.startswith("@")
    notifier = Notifier.from_env({"NOTIFY_SOCKET": abstract_systemd.env_value})
    assert notifier is not None
    assert notifier.send(READY=1, MAINPID=os.getpid())
    assert abstract_systemd.receive() == f"READY=1\nMAINPID={os.getpid()}\n".encode()
    notifier.close()


def test_no_notify_socket_means_no_notifier() -> None:
    assert Notifier.from_env({}) is None
    assert Notifier.from_env({"NOTIFY_SOCKET": ""}) is None


@pytest.mark.parametrize("value", ["relative/notify.sock", "vsock:2:1234", "@"])
def test_unsupported_address_is_logged_not_raised(value: str) -> None:
    with capture_logs() as logs:
        assert Notifier.from_env({"NOTIFY_SOCKET": value}) is None
    assert [log["event"] for log in logs] == ["systemd.notify_unsupported"]
    with pytest.raises(NotifyError):
        notify_address(value)


def test_a_missing_socket_fails_without_raising_and_is_logged_once(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"))
    with capture_logs() as logs:
        assert not notifier.ready()
        assert not notifier.watchdog()
    assert [log["event"] for log in logs] == ["systemd.notify_failed"]
    assert logs[0]["log_level"] == "warning"
    assert logs[0]["error_type"] == "FileNotFoundError"
    assert logs[0]["fields"] == ["READY"]
    notifier.close()


def test_recovery_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "late.sock"
    notifier = Notifier(str(path))
    with capture_logs() as logs:
        assert not notifier.watchdog()
        fake = FakeSystemd(str(path))
        assert notifier.watchdog()
    assert fake.receive() == b"WATCHDOG=1\n"
    assert [log["event"] for log in logs] == ["systemd.notify_failed", "systemd.notify_recovered"]
    fake.sock.close()
    notifier.close()


def test_a_full_socket_fails_at_once_instead_of_blocking(
    notifier: Notifier, systemd: FakeSystemd
) -> None:
    # Nobody reads: the receive queue fills, and a blocking send would hang the event loop.
    with capture_logs() as logs:
        results = [notifier.watchdog() for _ in range(10_000)]
    assert results[0]
    assert not results[-1]
    assert [log["error_type"] for log in logs] == ["BlockingIOError"]


@pytest.mark.parametrize(
    "fields", [{"ready": 1}, {"STATUS": "two\nlines"}, {"": 1}, {"A B": 1}, {}]
)
def test_malformed_fields_are_a_programming_error(
    notifier: Notifier, fields: dict[str, str | int]
) -> None:
    with pytest.raises(ValueError, match="sd_notify"):
        notifier.send(**fields)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "4243"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "x"}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_sec(
    env: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval(env, pid=4242) == expected


def test_watchdog_pid_defaults_to_this_process() -> None:
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(env) == 1.0


def test_status_line_summarises_the_latest_poll_of_each_stream() -> None:
    calls = StreamReport(Stream.CALLS, extensions=4, failed=1, new=3, announced=2)
    sms = StreamReport(Stream.SMS, extensions=4, failed=4, key_rejected=True)
    assert status_line([calls, sms]) == (
        "calls: 4 numbers, 1 failed, 3 new (2 announced); "
        "sms: 4 numbers, 4 failed, 0 new (0 announced), API key rejected"
    )
    assert status_line([]) == "started, nothing polled yet"
