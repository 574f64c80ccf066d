"""Resource faults: the disk fills while writing audio or the database, the state directory is
read-only. Nothing is marked done that is not, the error is logged, and the work completes
once space returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from chaos_daemon import (
    OPEN_DELIVERIES,
    VOICEMAILS_WITHOUT_AUDIO,
    daemon_config,
    fill,
    limited,
    remount,
)
from chaos_traffic import (
    LivelyFactory,
    expected_keys,
    folded_calls,
    folder_keys,
    live_extensions,
    orphan_temps,
    record_figures,
)
from support.cli import DaemonProcess, Spawn
from support.store import db_count, db_rows, integrity
from support.wait import wait_until

from tossd.sandbox.world import World

FIRST_POLL = "SELECT count(*) FROM poll_state WHERE last_success_at IS NOT NULL"
VOICEMAILS = "SELECT count(*) FROM events WHERE kind = 'voicemail'"
CALLER = "+15550000202"
Mount = Callable[..., Path]


def leave_a_voicemail(world: World, seconds: int) -> None:
    now = int(time.time())
    ext = live_extensions(world, now)[0]
    world.add_voicemail(extensionid=ext, timestamp=now, callernum=CALLER, length=seconds)


def failures(daemon: DaemonProcess, words: str, *events: str) -> list[dict[str, object]]:
    """The daemon's failure lines (`events`, default any warning or error) that say `words`."""
    return [
        r
        for r in daemon.records()
        if (r["event"] in events if events else r.get("level") in ("warning", "error"))
        and words in str(r.get("error") or r.get("exception"))
    ]


FOLDED = "SELECT count(*) FROM deliveries WHERE state = 'folded'"
VOICEMAIL_SENT = (
    "SELECT count(*) FROM deliveries d JOIN events e ON e.id = d.event_id "
    "WHERE e.kind = 'voicemail' AND d.state = 'sent'"
)


def all_delivered(world: World, folder: Path, db: Path) -> bool:
    """Every record of the world notified, with the recording beside the voicemail (and
    each call that left a voicemail folded into it, on the one target)."""
    return (
        expected_keys(world) <= set(folder_keys(folder))
        and voicemail_delivered_with_audio(folder)
        and db_count(db, OPEN_DELIVERIES) == 0
        and db_count(db, FOLDED) == len(folded_calls(world))
    )


def voicemail_delivered_with_audio(folder: Path) -> bool:
    keys = folder_keys(folder)
    return any(k[0] == "voicemail" and k[3] == CALLER for k in keys) and any(folder.glob("*.mp3"))


async def start(spawn: Spawn, config: Path, log: Path, db: Path) -> DaemonProcess:
    daemon = await spawn(log, "run", "-c", str(config))
    await wait_until(
        lambda: db_count(db, FIRST_POLL) > 0, timeout=60, what="the first poll", alive=daemon
    )
    return daemon


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_disk_full_while_writing_audio_then_space_returns(
    lively: LivelyFactory, tmpfs: Mount, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, world, _, _ = await lively(activity_every=3600)
    state, folder = tmp_path / "state", tmp_path / "notifications"
    db = state / "tossd.db"
    audio = tmpfs(state / "audio", "64k")  # smaller than the recording
    config = daemon_config(
        tmp_path,
        running.url,
        api_key,
        [f"tossd-file://{folder}"],
        poll={"audio_attempts": 1000},
        delivery={"audio_wait_s": 600},
    )
    daemon = await start(spawn, config, tmp_path / "run.log", db)

    leave_a_voicemail(world, seconds=120)  # about 240 kB of MP3
    await wait_until(
        lambda: len(failures(daemon, "No space left", "audio.write_failed")) >= 3,
        timeout=60,
        what="audio.failed on a full disk",
        alive=daemon,
    )
    assert db_count(db, VOICEMAILS) == 1  # the event is stored...
    assert db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 1  # ...its audio is not marked done
    assert db_count(db, VOICEMAIL_SENT) == 0
    assert not voicemail_delivered_with_audio(folder)
    assert orphan_temps(audio) == []

    remount(audio, "size=4m")  # space returns
    await wait_until(
        lambda: all_delivered(world, folder, db),
        timeout=60,
        what="the voicemail with its recording",
        alive=daemon,
    )
    code, _ = await daemon.terminate(timeout=30)
    record_figures(
        "disk full (audio)",
        failed_attempts=len(failures(daemon, "No space left", "audio.write_failed")),
        recovered=all_delivered(world, folder, db),
    )
    assert code == 0
    assert db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 0
    assert orphan_temps(audio) == []
    assert integrity(db) == ("ok", [])


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_disk_full_for_longer_than_audio_attempts_still_completes_once_space_returns(
    lively: LivelyFactory, tmpfs: Mount, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, world, _, _ = await lively(activity_every=3600)
    state, folder = tmp_path / "state", tmp_path / "notifications"
    db = state / "tossd.db"
    audio = tmpfs(state / "audio", "64k")
    config = daemon_config(
        tmp_path,
        running.url,
        api_key,
        [f"tossd-file://{folder}"],
        poll={"audio_attempts": 3},
        delivery={"audio_wait_s": 600},
    )
    daemon = await start(spawn, config, tmp_path / "run.log", db)
    leave_a_voicemail(world, seconds=120)
    await wait_until(
        # More write failures than audio_attempts: a full disk must not use them up.
        lambda: len(failures(daemon, "No space left", "audio.write_failed")) > 3,
        timeout=60,
        what="more failed audio writes than audio_attempts on a full disk",
        alive=daemon,
    )
    remount(audio, "size=4m")  # space returns
    cycles = sum(1 for r in daemon.records() if r["event"] == "poll.cycle")
    # Six more polls of every stream: the recording would be fetched in the first one.
    await wait_until(
        lambda: (
            db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 0
            or sum(1 for r in daemon.records() if r["event"] == "poll.cycle") >= cycles + 18
        ),
        timeout=60,
        what="polls after space returned",
        alive=daemon,
    )
    assert db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 0


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_disk_full_while_writing_the_database_then_space_returns(
    lively: LivelyFactory, tmpfs: Mount, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    running, world, _, _ = await lively(activity_every=3600)
    folder = tmp_path / "notifications"
    state = tmpfs(tmp_path / "state", "8m")
    db = state / "tossd.db"
    config = daemon_config(
        tmp_path, running.url, api_key, [f"tossd-file://{folder}"], poll={"interval_s": 0.3}
    )
    daemon = await start(spawn, config, tmp_path / "run.log", db)
    stored = db_count(db, "SELECT count(*) FROM events")
    # Filled early, while SQLite's write-ahead log is still growing: every commit needs space.
    filler = fill(state)

    leave_a_voicemail(world, seconds=9)
    await wait_until(
        lambda: len(failures(daemon, "database or disk is full")) >= 3,
        timeout=60,
        what="poll.failed on a full disk",
        alive=daemon,
    )
    assert db_count(db, "SELECT count(*) FROM events") == stored  # nothing half-recorded
    assert folder_keys(folder).total() == 0

    filler.unlink()  # space returns
    await wait_until(
        lambda: all_delivered(world, folder, db),
        timeout=60,
        what="the voicemail once space returned",
        alive=daemon,
    )
    code, _ = await daemon.terminate(timeout=30)
    record_figures(
        "disk full (database)",
        failure_lines=len(failures(daemon, "database or disk is full")),
        recovered=all_delivered(world, folder, db),
    )
    assert code == 0
    # The voicemail's call and the voicemail itself, each stored once.
    assert db_count(db, "SELECT count(*) FROM events") == stored + 2
    assert integrity(db) == ("ok", [])


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_file_size_limit_while_writing_audio_then_lifted(
    lively: LivelyFactory, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    """The same without mounts: RLIMIT_FSIZE makes any file past the limit fail (EFBIG)."""
    running, world, _, _ = await lively(activity_every=3600)
    state, folder = tmp_path / "state", tmp_path / "notifications"
    db = state / "tossd.db"
    config = daemon_config(
        tmp_path, running.url, api_key, [f"tossd-file://{folder}"], delivery={"audio_wait_s": 600}
    )
    args = ("poll", "--once", "-c", str(config))
    first = await spawn(tmp_path / "first.log", *args)
    assert await first.wait(60) == 0, first.text()[-2000:]

    leave_a_voicemail(world, seconds=600)  # about 1.2 MB of MP3; the database stays far smaller
    capped = await spawn(tmp_path / "capped.log", *args, wrapper=limited(512 * 1024))
    assert await capped.wait(60) == 0, capped.text()[-2000:]
    assert failures(capped, "File too large", "audio.write_failed")
    assert db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 1
    assert not voicemail_delivered_with_audio(folder)
    assert db_count(db, OPEN_DELIVERIES) == 1  # the voicemail's notification waits for it
    assert orphan_temps(state / "audio") == []

    lifted = await start(spawn, config, tmp_path / "lifted.log", db)
    await wait_until(
        lambda: all_delivered(world, folder, db),
        timeout=60,
        what="the voicemail once the limit is lifted",
        alive=lifted,
    )
    code, _ = await lifted.terminate(timeout=30)
    assert code == 0
    assert db_count(db, VOICEMAILS_WITHOUT_AUDIO) == 0
    assert integrity(db) == ("ok", [])


def clear_start_error(code: int, err: str, *words: str) -> None:
    """A non-zero exit and one plain `tossd: ...` line naming the problem, no traceback."""
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert code not in (0, None), err
    assert last.startswith("tossd: ") and "Traceback" not in err, err
    for word in words:
        assert word in last, err


async def run_briefly(spawn: Spawn, config: Path, tmp_path: Path) -> tuple[int, str]:
    daemon = await spawn(tmp_path / "ro.log", "run", "-c", str(config))
    code = await daemon.wait(60)  # it must give up at once, not retry forever
    return code, daemon.text()


@pytest.mark.timeout(90)
async def test_read_only_state_directory_is_a_clear_error_at_start(
    tmpfs: Mount, spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    url = "http://127.0.0.1:9/apihttp.php"
    fresh = tmpfs(tmp_path / "ro", "1m", "ro")
    config = daemon_config(tmp_path, url, api_key, ["json://127.0.0.1:9/"], state_dir=fresh)
    code, err = await run_briefly(spawn, config, tmp_path)
    clear_start_error(code, err, str(fresh), "Read-only file system")

    # A state directory that turns read-only under an existing database.
    state = tmpfs(tmp_path / "state", "4m")
    config = daemon_config(tmp_path, url, api_key, ["json://127.0.0.1:9/"], state_dir=state)
    upgrade = await spawn(tmp_path / "up.log", "db", "upgrade", "-c", str(config))
    assert await upgrade.wait(60) == 0
    remount(state, "ro")
    code, err = await run_briefly(spawn, config, tmp_path)
    clear_start_error(code, err, str(state / "tossd.db"))
    record_figures("read-only state dir", exit_code=code, message=err.strip().splitlines()[-1])


@pytest.mark.timeout(60)
async def test_state_directory_that_cannot_be_created_is_a_clear_error_at_start(
    spawn: Spawn, tmp_path: Path, api_key: str
) -> None:
    """Portable (root ignores modes): a file where the state directory should be."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    state = blocker / "state"
    config = daemon_config(
        tmp_path,
        "http://127.0.0.1:9/apihttp.php",
        api_key,
        ["json://127.0.0.1:9/"],
        state_dir=state,
    )
    code, err = await run_briefly(spawn, config, tmp_path)
    clear_start_error(code, err, str(state))
    assert db_rows(state / "tossd.db", "SELECT 1") is None
