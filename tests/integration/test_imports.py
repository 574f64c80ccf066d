"""Each command loads only what it uses: third-party packages in sys.modules, per command.

Every check runs in a fresh interpreter, so nothing another test imported counts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.cli import run_python
from support.config import write_config_file

#: Imported by no command that does not send, draw, serve or migrate.
HEAVY = {"sqlalchemy", "sqlmodel", "alembic", "apprise", "aiohttp", "matplotlib", "jinja2"}
#: The sandbox's MP3 encoder, the phone library's whole place table (~100 MB), and
#: SQLAlchemy's PostgreSQL dialect (2.2 MiB) on a SQLite store.
NEVER_IN_A_COMMAND = {
    "lameenc",
    "phonenumbers.geocoder",
    "phonenumbers.geodata",
    "sqlalchemy.dialects.postgresql",
}

PROBE = """
import json, sys
from tossd.cli.main import run
try:
    code = run(sys.argv[2:])
except SystemExit as exc:  # --version and --help exit from argparse
    code = exc.code
names = sorted(sys.modules)
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": names}, out)
"""


def loaded_by(tmp_path: Path, *argv: str) -> set[str]:
    """The modules in sys.modules after `tossd ARGV` ran in a fresh interpreter."""
    report = tmp_path / "modules.json"
    proc = run_python(PROBE, str(report), *argv)
    assert report.exists(), proc.stderr
    return set(json.loads(report.read_text())["modules"])


def third_party(modules: set[str]) -> set[str]:
    """Top-level packages neither ours nor the standard library's (nor site's own hooks)."""
    tops = {name.partition(".")[0] for name in modules}
    return {
        top
        for top in tops
        if top not in sys.stdlib_module_names and top != "tossd" and not top.startswith("_")
    }


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config_file(
        tmp_path / "tossd.toml",
        state_dir=tmp_path / "state",
        api={"url": "http://127.0.0.1:9/apihttp.php", "key": "not-a-real-key"},
    )


def test_importing_the_domain_loads_no_third_party_package() -> None:
    probe = "import sys, tossd.domain, tossd.errors, tossd.retry; print('\\n'.join(sys.modules))"
    out = run_python(probe, check=True).stdout
    assert third_party(set(out.split())) == set()


def test_version_loads_no_third_party_package(tmp_path: Path) -> None:
    assert third_party(loaded_by(tmp_path, "--version")) == set()


def test_health_loads_no_sender_server_chart_or_migration(
    tmp_path: Path, config_file: Path
) -> None:
    modules = loaded_by(tmp_path, "health", "-c", str(config_file))
    # SQLAlchemy's Core reads the store; its ORM and SQLModel are not needed for that.
    assert modules & (HEAVY - {"sqlalchemy"} | NEVER_IN_A_COMMAND | {"sqlalchemy.orm"}) == set()


def test_events_loads_no_sender_server_or_chart(tmp_path: Path, config_file: Path) -> None:
    modules = loaded_by(tmp_path, "events", "--limit", "10", "-c", str(config_file))
    unwanted = {"apprise", "aiohttp", "matplotlib", "jinja2"} | NEVER_IN_A_COMMAND
    assert modules & unwanted == set()


def test_config_check_loads_apprise_and_jinja2_but_no_store_server_or_chart(
    tmp_path: Path,
) -> None:
    """It checks what start-up checks (Apprise URLs, templates), and no more."""
    with_folder = write_config_file(
        tmp_path / "folder.toml",
        state_dir=tmp_path / "state",
        api={"url": "http://127.0.0.1:9/apihttp.php", "key": "not-a-real-key"},
        routes=[{"name": "files", "events": ["sms"], "notify": [f"tossd-file://{tmp_path}/out"]}],
    )
    modules = loaded_by(tmp_path, "config", "check", "-c", str(with_folder))
    assert modules & (HEAVY - {"apprise", "jinja2"} | NEVER_IN_A_COMMAND) == set()
    # A folder target needs no Apprise plugin module (tests/integration/test_apprise_plugins.py).
    plugins = {name for name in modules if name.startswith("apprise.plugins.")}
    assert plugins == {"apprise.plugins.base"}
