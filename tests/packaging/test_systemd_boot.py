"""systemd/tossd.service, unchanged, booted under a real systemd in systemd-nspawn."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine import PREFIX
from host import require_root, require_tools, run, wait_until
from machine import DYNAMIC_UIDS, Machine, MachineRefused, remove_tree, sweep_machines, timespan_s
from rootfs import CACHE_DIR, MACHINE, cached_tarball

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).parents[2]

UNIT = "tossd.service"
SANDBOX = "tossd-sandbox.service"
PORT = 8089
LISTENING = f"import socket; socket.create_connection(('127.0.0.1', {PORT}), 1).close()"
STREAMS = ("calls", "voicemail", "sms")
#: A short watchdog for one test; the unit's own WatchdogSec=60s would make it slow.
WATCHDOG_DROP_IN = "[Service]\nWatchdogSec=4s\n"
#: No api.key: the key is only in /etc/tossd/api_key, handed over by LoadCredential=.
CONFIG = f"""\
[api]
url = "http://127.0.0.1:{PORT}/apihttp.php"
max_requests_per_s = 50

[poll]
interval_s = 2
jitter_s = 0
initial_window_s = 3600

[[route]]
name = "folder"
events = ["call", "voicemail", "sms"]
notify = ["tossd-file:///var/lib/tossd/notifications"]
"""
BAD_CONFIG = CONFIG.replace("[poll]\n", "[poll]\nbogus_key = 1\n")


def sandbox_unit(key: str) -> str:
    """The API for the daemon to poll, inside the machine (its network is loopback only)."""
    return f"""\
[Unit]
Description=tossd sandbox API (packaging test)

[Service]
ExecStart=/usr/local/bin/tossd sandbox --host 127.0.0.1 --port {PORT} \\
    --api-key {key} --activity-every 2
DynamicUser=yes
"""


def install(tree: Path, wheels: Path, key: str) -> None:
    """tossd from the wheels, the unit as shipped, its config and key as root-only files."""
    run(
        [
            # Named like the machine, so a later run stops it if this one is killed.
            "systemd-nspawn", f"--directory={tree}", f"--machine={PREFIX}-install", "--quiet",
            "--register=no", "--keep-unit",
            "--private-network", "--pipe", f"--bind-ro={wheels}:/wheels",
            "pip", "install", "--quiet", "--no-index", "--find-links=/wheels", "tossd",
        ],
        timeout=600,
    )  # fmt: skip
    units = tree / "etc/systemd/system"
    (units / UNIT).write_bytes((ROOT / "systemd" / UNIT).read_bytes())
    (units / SANDBOX).write_text(sandbox_unit(key))
    etc = tree / "etc/tossd"
    etc.mkdir(mode=0o755, exist_ok=True)
    for name, text in (("tossd.toml", CONFIG), ("api_key", key)):
        (etc / name).write_text(text)
        (etc / name).chmod(0o600)


@pytest.fixture(scope="module")
def machine(
    wheels: Path, tmp_path_factory: pytest.TempPathFactory, figures: list[str]
) -> Iterator[Machine]:
    require_root()
    require_tools("systemd-nspawn", "nsenter", "mmdebstrap")
    machines = CACHE_DIR / "machines"
    machines.mkdir(parents=True, exist_ok=True)
    swept = sweep_machines(machines)
    if swept:
        figures.append(f"machines removed from dead runs: {', '.join(swept)}")
    tarball = cached_tarball(MACHINE, figures)
    tree = machines / f"{PREFIX}-machine"
    tree.mkdir()
    booted = Machine(tree, f"{PREFIX}-machine", tmp_path_factory.mktemp("machine") / "console")
    try:
        run(["tar", "--numeric-owner", "-xpf", tarball, "-C", tree], timeout=300)
        install(tree, wheels, key=f"pkg-{secrets.token_hex(12)}")
        started = time.monotonic()
        try:
            state = booted.boot()
        except MachineRefused as exc:
            pytest.skip(f"systemd-nspawn cannot boot a machine on this host: {exc}")
        figures.append(f"machine: booted in {time.monotonic() - started:.1f} s ({state})")
        if state == "degraded":  # some unit of the bare Debian system failed: say which
            figures.append(booted.run("systemctl", "--failed", "--no-pager", check=False).stdout)
        # systemd's own account of each state change and notification, in the journal.
        booted.run("systemd-analyze", "set-log-level", "debug")
        booted.run("systemctl", "start", SANDBOX)
        wait_until(
            "the sandbox to listen",
            lambda: booted.run("python3", "-c", LISTENING, check=False).returncode == 0,
            timeout=60,
            diagnose=lambda: booted.diagnose(SANDBOX),
        )
        yield booted
    finally:
        booted.shutdown()
        remove_tree(tree)


#: One stream's part of STATUS= (tossd.daemon.systemd.status_line), in any order.
STATUS_PART = re.compile(r"(\w+): (\d+) numbers, (\d+) failed, \d+ new \(\d+ announced\)")


def polls(machine: Machine, *, failing: bool) -> dict[str, tuple[int, int]] | None:
    """Stream -> (numbers, failed) from STATUS= once it names every stream, each with all
    of its numbers polled fine (or, `failing`, with failures); else None."""
    text = machine.show(UNIT, "StatusText").get("StatusText", "")
    matches = [STATUS_PART.fullmatch(part) for part in text.split("; ")]
    if not all(matches) or len(matches) != len(STREAMS):
        return None
    found = {m[1]: (int(m[2]), int(m[3])) for m in matches if m}
    if set(found) != set(STREAMS):
        return None
    wanted = all(n > 0 and (f > 0 if failing else f == 0) for n, f in found.values())
    return found if wanted else None


def test_the_unit_is_installed_unchanged(machine: Machine) -> None:
    installed = machine.tree / "etc/systemd/system" / UNIT
    assert installed.read_bytes() == (ROOT / "systemd" / UNIT).read_bytes()
    assert (machine.tree / "usr/local/bin/tossd").is_file()


def test_active_running_only_after_ready(machine: Machine) -> None:
    cursor = machine.start_afresh(UNIT)
    messages = machine.messages(UNIT, cursor)

    def first(pattern: str) -> int:
        found = [i for i, m in enumerate(messages) if re.search(pattern, m)]
        assert found, f"no journal line matching {pattern!r}:\n" + "\n".join(messages[-60:])
        return found[0]

    starting = first(rf"^{UNIT}: Changed dead -> start$")
    ready = first(rf"^{UNIT}: Got notification message from PID \d+ \(READY=1")
    running = first(rf"^{UNIT}: Changed start -> running$")
    assert starting < ready < running
    status = machine.run("systemctl", "status", "--no-pager", UNIT).stdout
    assert re.search(r"Active: active \(running\)", status), status


def test_status_text_is_the_last_poll(machine: Machine) -> None:
    if machine.show(UNIT, "ActiveState")["ActiveState"] != "active":
        machine.start_afresh(UNIT)

    def diagnose() -> str:
        return machine.diagnose(UNIT, SANDBOX)

    wait_until(
        "STATUS= with every stream polled without failure",
        lambda: polls(machine, failing=False),
        timeout=60,
        diagnose=diagnose,
    )
    # The API goes away: the next polls fail, and STATUS= says so.
    machine.run("systemctl", "stop", SANDBOX)
    try:
        wait_until(
            "STATUS= with failed polls after the API stopped",
            lambda: polls(machine, failing=True),
            timeout=90,
            diagnose=diagnose,
        )
    finally:
        machine.run("systemctl", "start", SANDBOX)
    wait_until(
        "STATUS= without failures once the API is back",
        lambda: polls(machine, failing=False),
        timeout=90,
        diagnose=diagnose,
    )


def test_dynamic_user_state_directory_and_credentials(machine: Machine) -> None:
    if machine.show(UNIT, "ActiveState")["ActiveState"] != "active":
        machine.start_afresh(UNIT)
    pid = machine.show(UNIT, "MainPID")["MainPID"]
    uid = int(machine.run("stat", "--format=%u", f"/proc/{pid}").stdout)
    assert uid in DYNAMIC_UIDS
    assert f":{uid}:" not in (machine.tree / "etc/passwd").read_text()
    # StateDirectory= with DynamicUser=: the state is under /var/lib/private, owned by the uid.
    assert (machine.tree / "var/lib/tossd").readlink() == Path("private/tossd")
    state = machine.tree / "var/lib/private/tossd"
    assert (state.stat().st_uid, state.stat().st_mode & 0o777) == (uid, 0o700)
    notes = wait_until(
        "a notification in the state directory",
        lambda: sorted((state / "notifications").glob("*.txt")),
        timeout=60,
        diagnose=lambda: machine.diagnose(UNIT),
    )
    assert {(state / "tossd.db").stat().st_uid, notes[0].stat().st_uid} == {uid}
    # The config and the key (root-only files) reach the dynamic user as credentials.
    environ = machine.run("cat", f"/proc/{pid}/environ").stdout.split("\0")
    assert "CREDENTIALS_DIRECTORY=/run/credentials/tossd.service" in environ
    assert "TOSSD_CONFIG=/run/credentials/tossd.service/tossd.toml" in environ
    assert not [item for item in environ if item.startswith("TOSSD_API_KEY=")]
    assert (machine.tree / "etc/tossd/api_key").stat().st_mode & 0o077 == 0
    credentials = machine.run("ls", "/run/credentials/tossd.service").stdout.split()
    assert sorted(credentials) == ["api_key", "tossd.toml"]
    # The sandbox refuses every other key, and the polls succeed: the key is the credential.
    wait_until(
        "STATUS= with every stream polled without failure",
        lambda: polls(machine, failing=False),
        timeout=60,
        diagnose=lambda: machine.diagnose(UNIT, SANDBOX),
    )


def test_the_watchdog_restarts_a_stopped_daemon(machine: Machine) -> None:
    drop_in = machine.tree / "etc/systemd/system" / f"{UNIT}.d" / "watchdog.conf"
    drop_in.parent.mkdir(exist_ok=True)
    drop_in.write_text(WATCHDOG_DROP_IN)
    try:
        machine.run("systemctl", "daemon-reload")
        machine.start_afresh(UNIT)
        before = machine.show(UNIT, "MainPID", "NRestarts")
        environ = machine.run("cat", f"/proc/{before['MainPID']}/environ").stdout.split("\0")
        assert "WATCHDOG_USEC=4000000" in environ
        cursor = machine.cursor()
        # A hung event loop: SIGSTOP leaves the process alive but it pings no more.
        machine.run("systemctl", "kill", "--signal=SIGSTOP", "--kill-who=main", UNIT)

        def restarted() -> dict[str, str] | None:
            now = machine.show(UNIT, "MainPID", "NRestarts", "ActiveState", "SubState")
            done = (
                now["NRestarts"] == str(int(before["NRestarts"]) + 1)
                and (now["ActiveState"], now["SubState"]) == ("active", "running")
                and now["MainPID"] not in {"0", before["MainPID"]}
            )
            return now if done else None

        wait_until(
            "the watchdog to kill and restart tossd",
            restarted,
            timeout=90,
            diagnose=lambda: machine.diagnose(UNIT),
        )
        messages = machine.messages(UNIT, cursor)
        assert f"{UNIT}: Watchdog timeout (limit 4s)!" in messages
        killed = f"{UNIT}: Killing process {before['MainPID']} (tossd) with signal SIGABRT."
        assert killed in messages
    finally:
        drop_in.unlink()
        machine.run("systemctl", "daemon-reload")


def test_reload_takes_up_the_config_without_a_restart(machine: Machine) -> None:
    """`systemctl reload` (ExecReload=, SIGHUP) re-reads the config in the same process; a
    config that no longer validates is refused and the running one kept."""
    config = machine.tree / "etc/tossd/tossd.toml"
    before = machine.show(UNIT, "MainPID", "ActiveState")
    assert before["ActiveState"] == "active"
    renamed = CONFIG.replace('name = "folder"', 'name = "folder-renamed"')
    try:
        cursor = machine.cursor()
        config.write_text(renamed)
        machine.run("systemctl", "reload", UNIT, timeout=60)
        reloaded = wait_until(
            "the reload to be logged",
            lambda: [m for m in machine.messages(UNIT, cursor) if "config.reloaded" in m],
            timeout=60,
            diagnose=lambda: machine.diagnose(UNIT),
        )
        assert "folder-renamed" in reloaded[0]
        cursor = machine.cursor()
        config.write_text(BAD_CONFIG)
        machine.run("systemctl", "reload", UNIT, timeout=60)
        refused = wait_until(
            "the bad config to be refused",
            lambda: [m for m in machine.messages(UNIT, cursor) if "config.reload_failed" in m],
            timeout=60,
            diagnose=lambda: machine.diagnose(UNIT),
        )
        assert "poll.bogus_key" in refused[0]
        after = machine.show(UNIT, "MainPID", "ActiveState")
        assert after == before  # the same process, still running
    finally:
        config.write_text(CONFIG)
        machine.run("systemctl", "reload", UNIT, timeout=60, check=False)


def test_a_bad_config_exits_78_and_is_not_restarted(machine: Machine) -> None:
    config = machine.tree / "etc/tossd/tossd.toml"
    config.write_text(BAD_CONFIG)
    try:
        machine.run("systemctl", "reset-failed", UNIT, check=False)
        cursor = machine.cursor()
        result = machine.run("systemctl", "restart", UNIT, timeout=120, check=False)
        assert result.returncode != 0
        failed = wait_until(
            "the unit to fail",
            lambda: (
                (now := machine.show(UNIT, "ActiveState", "ExecMainStatus", "Result", "NRestarts"))
                and now["ActiveState"] == "failed"
                and now
            ),
            timeout=60,
            diagnose=lambda: machine.diagnose(UNIT),
        )
        assert (failed["ExecMainStatus"], failed["Result"]) == ("78", "exit-code")
        messages = machine.messages(UNIT, cursor)
        assert f"{UNIT}: Service will not restart (prevented by exit status)" in messages
        assert any("poll.bogus_key: unknown key" in m for m in messages), messages[-40:]
        # A restart would come RestartSec= after the exit. That nothing happens cannot be
        # polled for: wait that long, and a little more, and see that none came.
        time.sleep(timespan_s(machine.show(UNIT, "RestartUSec")["RestartUSec"]) + 2)
        later = machine.show(UNIT, "ActiveState", "NRestarts")
        assert later == {"ActiveState": "failed", "NRestarts": failed["NRestarts"]}
    finally:
        config.write_text(CONFIG)
        machine.run("systemctl", "reset-failed", UNIT, check=False)


def test_systemd_analyze_security_on_the_loaded_unit(machine: Machine, figures: list[str]) -> None:
    result = machine.run("systemd-analyze", "security", "--no-pager", UNIT)
    match = re.search(rf"Overall exposure level for {UNIT}: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout
    version = machine.run("systemctl", "--version").stdout.split()[1]
    figures.append(f"systemd-analyze security {UNIT} (systemd {version}, booted): {match[1]}")
    assert float(match[1]) <= 1.5
