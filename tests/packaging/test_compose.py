"""compose.yaml run by podman-compose: the daemon alone, then with the sandbox profile."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine import PREFIX, Podman
from host import require_tools, run, wait_until

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).parents[2]
#: The configuration compose.yaml's comment tells users to try the sandbox with.
TRY_CONFIG = "./config/compose-sandbox.toml"
Compose = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def project() -> str:
    return f"{PREFIX}c"


@pytest.fixture(scope="module")
def compose(
    podman: Podman, image: str, project: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Compose]:
    key_file = tmp_path_factory.mktemp("compose") / "api_key"
    key_file.write_text(f"pkg-{secrets.token_hex(12)}\n")
    key_file.chmod(0o644)  # bind-mounted as the secret; read by uid 10001
    env = {
        **podman.env,
        "TOSSD_IMAGE": image,
        "TOSSD_CONFIG_FILE": TRY_CONFIG,
        "TOSSD_API_KEY_FILE": str(key_file),
    }
    tool = require_tools("podman-compose")["podman-compose"]

    def compose(
        *args: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        argv = [tool, f"--project-name={project}", f"--file={ROOT / 'compose.yaml'}", *args]
        return run(argv, env=env, cwd=ROOT, check=check, timeout=timeout)

    try:
        yield compose
    finally:
        listed = podman(
            "ps",
            "--all",
            f"--filter=label=io.podman.compose.project={project}",
            "--format={{.Names}}",
            check=False,
        )
        if listed.stdout.split():
            # --volumes: the anonymous volume of the sandbox's VOLUME, which `down` leaves.
            podman("rm", "--force", "--volumes", "--time=5", *listed.stdout.split(), check=False)
        compose("--profile=sandbox", "down", "--volumes", check=False)
        podman("volume", "rm", "--force", f"{project}_state", check=False)
        podman("network", "rm", "--force", f"{project}_default", check=False)


def containers(podman: Podman, project: str) -> dict[str, str]:
    """Service name -> container name, for the project's running containers."""
    listed = podman(
        "ps",
        f"--filter=label=io.podman.compose.project={project}",
        '--format={{.Names}} {{index .Labels "io.podman.compose.service"}}',
    )
    return {
        service: name for name, service in (line.split() for line in listed.stdout.splitlines())
    }


def test_up_without_the_profile_starts_the_daemon_alone(
    podman: Podman, compose: Compose, project: str
) -> None:
    compose("up", "--detach")
    running = wait_until(
        "the tossd service to run", lambda: containers(podman, project), timeout=60
    )
    assert set(running) == {"tossd"}
    mounts = json.loads(podman("inspect", "--format={{json .Mounts}}", running["tossd"]).stdout)
    by_destination = {mount["Destination"]: mount for mount in mounts}
    assert by_destination["/var/lib/tossd"]["Name"] == f"{project}_state"
    assert by_destination["/run/secrets/api_key"]["RW"] is False
    assert by_destination["/etc/tossd/tossd.toml"]["Source"] == str(ROOT / TRY_CONFIG)


def test_the_sandbox_profile_gives_the_daemon_an_api(
    podman: Podman, compose: Compose, project: str
) -> None:
    compose("--profile=sandbox", "up", "--detach")
    running = wait_until(
        "both services to run",
        lambda: (found := containers(podman, project)) and len(found) == 2 and found,
        timeout=60,
    )
    daemon = running["tossd"]

    def notifications() -> list[str]:
        listed = podman("exec", daemon, "ls", "/var/lib/tossd/notifications", check=False)
        return [name for name in listed.stdout.split() if name.endswith(".txt")]

    wait_until(
        "a notification in the state volume",
        notifications,
        timeout=120,
        diagnose=lambda: podman.logs(*running.values()),
    )
    events = compose("exec", "-T", "tossd", "tossd", "events", "--json", "--limit=5").stdout
    assert [json.loads(line)["kind"] for line in events.splitlines()]

    health = json.loads(
        podman("inspect", "--format={{json .Config.Healthcheck}}", running["tossd"]).stdout
    )
    assert health["Test"] == ["CMD", "tossd", "health"]
    wait_until(
        "`podman healthcheck run` to pass",
        lambda: podman("healthcheck", "run", running["tossd"], check=False).returncode == 0,
        timeout=60,
        interval=1,
        diagnose=lambda: podman.logs(running["tossd"]),
    )
    # The sandbox is no daemon: compose.yaml turns the image's health check off for it.
    sandbox = json.loads(
        podman("inspect", "--format={{json .Config.Healthcheck}}", running["sandbox"]).stdout
    )
    assert sandbox["Test"] == ["NONE"]
