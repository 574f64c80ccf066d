"""What a newcomer meets in the first hour, run as users run it: `tossd` in a subprocess."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from support.cli import run_tossd_sync
from support.config import write_config_file

HOOK = "json://127.0.0.1:9/hook"


def config(tmp_path: Path, *routes: dict[str, Any], **sections: Any) -> Path:
    api = sections.pop("api", {"key": "k-123456"})
    return write_config_file(
        tmp_path / "tossd.toml", state_dir=tmp_path / "state", api=api, routes=routes, **sections
    )


def test_routes_need_no_name(tmp_path: Path) -> None:
    unnamed = {"events": ["sms"], "notify": [HOOK]}
    path = config(tmp_path, unnamed, {"name": "office", **unnamed}, unnamed)
    result = run_tossd_sync("config", "check", "-c", str(path))
    assert result.returncode == 0, result.stderr
    # Only the [[route]] tables: [report] has a name too.
    routes = result.stdout.split("\n[[route]]\n")[1:]
    names = [line for r in routes for line in r.splitlines() if line.startswith("name = ")]
    assert names == ['name = "route-1"', 'name = "office"', 'name = "route-3"']


def test_errors_speak_toml_and_name_the_route(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        {"events": "sms", "notify": [HOOK]},
        {"name": "office", "events": ["smss"], "notify": [HOOK]},
        poll={"intervall_s": 30},
    )
    result = run_tossd_sync("config", "check", "-c", str(path))
    assert result.returncode == 78
    assert 'route "route-1".events: must be an array' in result.stderr
    assert 'route "office".events[0]: must be one of' in result.stderr
    assert "at least 1 item" not in result.stderr and "tuple" not in result.stderr
    assert "poll.intervall_s: unknown key (did you mean interval_s?)" in result.stderr


def test_config_check_masks_secrets_only(tmp_path: Path) -> None:
    folders = [f"tossd-file://{tmp_path}/a", f"tossd-file://{tmp_path}/b"]
    slack = "slack://T1234567/B1234567/XXXXXXXXXXXXXXXX"
    path = config(tmp_path, {"events": ["sms"], "notify": [*folders, slack]})
    result = run_tossd_sync("config", "check", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert f'notify = ["{folders[0]}", "{folders[1]}", "slack://****/****/****"]' in result.stdout
    assert "T1234567" not in result.stdout and "k-123456" not in result.stdout


def test_every_setting_from_the_environment(tmp_path: Path) -> None:
    path = config(tmp_path, api={"key": "k-123456", "max_concurrency": 2})
    env = {"TOSSD_API__MAX_CONCURRENCY": "4", "TOSSD_LOG__LEVEL": "debug"}
    result = run_tossd_sync("config", "check", "-c", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "max_concurrency = 4" in result.stdout
    assert 'level = "debug"' in result.stdout
    typo = run_tossd_sync("config", "check", "-c", str(path), env={"TOSSD_API__RETRIS": "1"})
    assert typo.returncode == 78
    assert "did you mean $TOSSD_API__RETRIES?" in typo.stderr


def test_the_example_config_passes_config_check() -> None:
    example = Path(__file__).parents[2] / "config" / "tossd.example.toml"
    result = run_tossd_sync("config", "check", "-c", str(example), env={"HOME": "/nonexistent"})
    assert result.returncode == 0, result.stderr


def test_a_config_holding_the_key_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    path = config(tmp_path)
    path.chmod(0o644)
    exposed = run_tossd_sync("config", "check", "-c", str(path))
    assert exposed.returncode == 0, exposed.stderr
    assert "config.readable_by_others" in exposed.stderr
    assert "chmod 600" in exposed.stderr and "k-123456" not in exposed.stderr
    path.chmod(0o600)
    private = run_tossd_sync("config", "check", "-c", str(path))
    assert "config.readable_by_others" not in private.stderr
    # A file without the key (it comes from the environment) exposes nothing.
    keyless = config(tmp_path, api={"timeout_s": 10})
    keyless.chmod(0o644)
    from_env = run_tossd_sync("config", "check", "-c", str(keyless), env={"TOSSD_API_KEY": "k-1"})
    assert from_env.returncode == 0 and "config.readable_by_others" not in from_env.stderr


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    from tossd.store.migrate import upgrade
    from tossd.store.revision import HEAD_REVISION as HEAD

    path = config(tmp_path)
    created = run_tossd_sync("db", "upgrade", "-c", str(path))
    assert (created.returncode, created.stdout) == (0, f"created the database at schema {HEAD}\n")
    again = run_tossd_sync("db", "upgrade", "-c", str(path))
    assert again.stdout == f"the database is already current (schema {HEAD})\n"
    (tmp_path / "older").mkdir()
    older = config(tmp_path / "older")
    (tmp_path / "older" / "state").mkdir()
    upgrade(f"sqlite:///{tmp_path / 'older' / 'state' / 'tossd.db'}", "0002")
    migrated = run_tossd_sync("db", "upgrade", "-c", str(older))
    assert migrated.stdout == f"migrated the database from schema 0002 to {HEAD}\n", migrated.stderr


def test_api_errors_name_the_server_with_its_password_masked(tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://me:hunter22@127.0.0.1:{port}/apihttp.php?x=1"
        path = config(tmp_path, api={"key": "k-123456", "url": url, "retries": 0})
        result = run_tossd_sync("config", "check", "--online", "-c", str(path))
    assert result.returncode == 69, result.stderr
    assert f"http://me:********@127.0.0.1:{port}/apihttp.php: " in result.stderr
    assert "hunter22" not in result.stderr and "x=1" not in result.stderr


def test_the_sandbox_key_is_documented_in_its_help() -> None:
    result = run_tossd_sync("sandbox", "--help")
    assert result.returncode == 0
    assert 'key = "sandbox"' in " ".join(result.stdout.split())


def test_notify_test_tells_two_folder_targets_apart(tmp_path: Path) -> None:
    folders = [f"tossd-file://{tmp_path}/a", f"tossd-file://{tmp_path}/b"]
    path = config(tmp_path, {"events": ["sms"], "notify": folders})
    result = run_tossd_sync("notify", "test", "-c", str(path))
    assert result.returncode == 0, result.stderr
    for folder in folders:
        assert folder in result.stdout
