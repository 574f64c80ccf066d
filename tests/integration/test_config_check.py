"""`tossd config check` is start-up's validation: it refuses exactly what `tossd run` refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.cli import run_tossd, run_tossd_sync
from support.config import write_config_file

from tossd.sandbox.server import RunningSandbox

GOOD_ROUTE = {"name": "ops", "events": ["call"], "notify": ["json://127.0.0.1:9/hook"]}


def config_with(tmp_path: Path, *, key: str | None = "k-123456", **route: Any) -> Path:
    api: dict[str, Any] = {"url": "http://127.0.0.1:9/apihttp.php"}
    if key is not None:
        api["key"] = key
    return write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api=api,
        routes=[GOOD_ROUTE | route],
    )


@pytest.mark.parametrize(
    ("route", "key", "named"),
    [
        # A typo'd Apprise scheme: no service uses it.
        ({"notify": ["slak://T000/B000/XXXX"]}, "k-123456", 'route "ops".notify[0]'),
        # ... and the error names the scheme, with the closest one Apprise knows.
        ({"notify": ["slak://T000/B000/XXXX"]}, "k-123456", "scheme slak:// (did you mean slack"),
        # mailto:// without an address: Apprise cannot load it.
        ({"notify": ["mailto://"]}, "k-123456", 'route "ops".notify[0]'),
        # A template that does not compile.
        ({"title_template": "{{ caller "}, "k-123456", 'route "ops".title_template'),
        # No key anywhere: run cannot poll.
        ({}, None, "api.key"),
    ],
)
def test_config_check_exits_78_wherever_run_does(
    tmp_path: Path, route: dict[str, Any], key: str | None, named: str
) -> None:
    config = config_with(tmp_path, key=key, **route)
    env = {"TOSSD_API_KEY": ""}
    checked = run_tossd_sync("config", "check", "-c", str(config), env=env)
    run = run_tossd_sync("run", "-c", str(config), env=env, timeout=60)
    assert (checked.returncode, run.returncode) == (78, 78), checked.stderr + run.stderr
    assert named in checked.stderr
    assert checked.stderr.splitlines()[-1] == run.stderr.splitlines()[-1]  # the same words


def test_config_check_says_what_it_checked(tmp_path: Path) -> None:
    template = {"title_template": "Call from {{ caller }}"}
    result = run_tossd_sync("config", "check", "-c", str(config_with(tmp_path, **template)))
    assert result.returncode == 0, result.stderr
    checked = result.stdout.split("# checked, as `tossd run` checks at start:")[1]
    assert "api key: present (api.key)" in checked
    assert "routes: 1, with 1 Apprise targets" in checked
    assert "templates: 1 compiled" in checked


async def test_config_check_online_names_routes_that_match_no_number(
    sandbox: RunningSandbox, tmp_path: Path, api_key: str
) -> None:
    typo = {"name": "typo", "events": ["call"], "extensions": ["Saels"]}
    config = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": api_key},
        routes=[GOOD_ROUTE, GOOD_ROUTE | typo],
    )
    code, out, err = await run_tossd("config", "check", "--online", "-c", str(config))
    assert code == 0, err
    assert "api: the key works;" in out
    assert "WARNING: route 'typo' matches no active number: it can never fire" in out
    assert "route 'ops'" not in out


async def test_config_check_online_with_a_rejected_key_exits_77(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    config = write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": sandbox.url, "key": "not-the-sandbox-key"},
        routes=[GOOD_ROUTE],
    )
    code, _out, err = await run_tossd("config", "check", "--online", "-c", str(config))
    assert code == 77, err
