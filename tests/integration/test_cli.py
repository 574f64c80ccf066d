"""The `tossd` command as users run it: subprocesses, real ports, real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.cli import run_tossd_sync
from support.config import write_config_file
from support.sandbox import sandbox_command

from tossd.api.envelope import decode_envelope
from tossd.api.phpserial import loads


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[str]:
    """`tossd sandbox --port 0 --api-key K`, started as users start it; yields its URL."""
    with sandbox_command("K-123456") as url:
        yield url


@pytest.mark.parametrize(
    "method",
    ["extensionList", "callRecords", "callSummary", "extensionVoicemailGet", "audioclipGet"],
)
def test_sandbox_command_answers_both_formats(sandbox_process: str, method: str) -> None:
    url = sandbox_process
    base = {"apikey": "K-123456", "method": "extensionList"}
    ext = httpx.post(url, data=base).json()["data"][1]
    voicemails = httpx.post(
        url, data={**base, "method": "extensionVoicemailGet", "extensionid": ext["extensionid"]}
    ).json()["data"]
    params = {
        "extensionList": {},
        "callRecords": {"startdate": 0, "enddate": 2**31},
        "callSummary": {"startdate": 0, "enddate": 2**31},
        "extensionVoicemailGet": {"extensionid": ext["extensionid"]},
        "audioclipGet": {"clipid": voicemails[0]["clipid"] if voicemails else "vmdefault"},
    }[method]
    as_json = httpx.post(url, data={**base, **params, "method": method, "format": "json"})
    as_php = httpx.post(url, data={**base, **params, "method": method, "format": "php_serial"})
    json_env = decode_envelope(as_json.content, "json")
    php_env = decode_envelope(as_php.content, "php_serial")
    assert json_env.status is True and php_env.status is True
    assert json_env.data == php_env.data
    assert list(as_json.json()) == ["msgs", "status", "data"]
    assert list(loads(as_php.content)) == ["msgs", "status", "data"]


@pytest.mark.parametrize("fmt", ["json", "php_serial"])
def test_sandbox_command_errors_use_the_provider_envelope(sandbox_process: str, fmt: str) -> None:
    missing = httpx.post(
        sandbox_process, data={"apikey": "K-123456", "method": "callRecords", "format": fmt}
    )
    envelope = decode_envelope(missing.content, fmt)  # type: ignore[arg-type]
    assert envelope.msgs == ("Required value startdate not set or is empty",)
    assert envelope.status is False and envelope.data is None
    bad_key = httpx.post(
        sandbox_process, data={"apikey": "nope", "method": "extensionList", "format": fmt}
    )
    envelope = decode_envelope(bad_key.content, fmt)  # type: ignore[arg-type]
    assert envelope.status is False and envelope.data is None and envelope.msgs


def test_bad_config_names_the_key_and_exits_78(tmp_path: Path) -> None:
    config = tmp_path / "tossd.toml"
    config.write_text('[api]\nkey = "s3cr3t-key-value"\nmax_concurrency = 0\n')
    result = run_tossd_sync("config", "check", "-c", str(config))
    assert result.returncode == 78
    assert "api.max_concurrency" in result.stderr
    assert "s3cr3t-key-value" not in result.stderr + result.stdout


def test_config_check_prints_effective_config_masked(tmp_path: Path) -> None:
    config = tmp_path / "tossd.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[api]\nformat = "php_serial"\n')
    result = run_tossd_sync(
        "config", "check", env={"TOSSD_CONFIG": str(config), "TOSSD_API_KEY": "envkey-42"}
    )
    assert result.returncode == 0, result.stderr
    assert 'format = "php_serial"' in result.stdout
    assert "envkey-42" not in result.stdout and "********" in result.stdout


def test_missing_explicit_config_is_a_config_error(tmp_path: Path) -> None:
    result = run_tossd_sync("config", "check", "-c", str(tmp_path / "absent.toml"))
    assert result.returncode == 78
    assert "absent.toml" in result.stderr


def test_example_config_passes_check() -> None:
    example = Path(__file__).parents[2] / "config" / "tossd.example.toml"
    result = run_tossd_sync("config", "check", "-c", str(example))
    assert result.returncode == 0, result.stderr


def test_outbox_retry_of_a_notification_that_does_not_exist_exits_1(tmp_path: Path) -> None:
    config = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": "http://127.0.0.1:9/apihttp.php", "key": "k-123456"},
        routes=[{"name": "ops", "events": ["call"], "notify": ["json://127.0.0.1:9/hook"]}],
    )
    result = run_tossd_sync("outbox", "retry", "--id", "999", "-c", str(config))
    assert result.returncode == 1
    assert "--id 999: no such notification" in result.stderr
