"""The image built and run: sandbox + daemon in one pod, the health check, `tossd demo`."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine import Podman
from host import wait_until

pytestmark = pytest.mark.packaging

UID = 10001
PORT = 8089
EVENT_KINDS = {"call", "missed_call", "voicemail", "sms"}


@dataclass(frozen=True)
class Pod:
    daemon: str
    sandbox: str
    notifications: Path
    state_volume: str


def pod_config() -> str:
    """Brisk polling of the sandbox in the same pod; every event to the mounted folder."""
    return f"""\
[api]
url = "http://127.0.0.1:{PORT}/apihttp.php"
max_requests_per_s = 50

[poll]
interval_s = 2
jitter_s = 0
initial_window_s = 3600

[delivery]
interval_s = 1

[[route]]
name = "folder"
events = ["call", "voicemail", "sms"]
notify = ["tossd-file:///notifications"]
"""


@pytest.fixture(scope="module")
def pod(podman: Podman, image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    work = tmp_path_factory.mktemp("pod")
    key = f"pkg-{secrets.token_hex(12)}"
    (work / "api_key").write_text(key)
    config = work / "tossd.toml"
    config.write_text(pod_config())
    config.chmod(0o644)
    notifications = work / "notifications"
    notifications.mkdir()
    os.chown(notifications, UID, UID)
    names = Pod(
        daemon=podman.name("daemon"),
        sandbox=podman.name("sandbox"),
        notifications=notifications,
        state_volume=podman.name("state"),
    )
    secret, pod_name = podman.name("key"), podman.name("pod")
    try:
        podman("secret", "create", secret, work / "api_key")
        podman("pod", "create", f"--name={pod_name}")
        podman(
            "run",
            "--detach",
            f"--pod={pod_name}",
            f"--name={names.sandbox}",
            image,
            "sandbox",
            "--host=127.0.0.1",
            f"--port={PORT}",
            f"--api-key={key}",
            "--activity-every=2",
        )
        podman(
            "run",
            "--detach",
            f"--pod={pod_name}",
            f"--name={names.daemon}",
            f"--secret={secret},target=api_key",
            f"--volume={config}:/etc/tossd/tossd.toml:ro",
            f"--volume={notifications}:/notifications",
            f"--volume={names.state_volume}:/var/lib/tossd",
            image,
        )
        yield names
    finally:
        # -v: the anonymous volume the image's VOLUME gave the sandbox goes too.
        podman("rm", "--force", "--volumes", "--time=5", names.daemon, names.sandbox, check=False)
        podman("pod", "rm", "--force", pod_name, check=False, timeout=120)
        podman("volume", "rm", "--force", names.state_volume, check=False)
        podman("secret", "rm", secret, check=False)


def test_the_image_keeps_its_user_entrypoint_and_healthcheck(podman: Podman, image: str) -> None:
    info = json.loads(podman("image", "inspect", image).stdout)[0]
    config = info["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["tossd"]
    assert config["Cmd"] == ["run"]
    assert "/var/lib/tossd" in config["Volumes"]
    # Only the docker format stores HEALTHCHECK; the OCI one would drop it silently.
    assert info["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert info["Healthcheck"]["Test"] == ["CMD", "tossd", "health"]


def test_notifications_arrive_in_the_mounted_folder(podman: Podman, pod: Pod) -> None:
    notes = wait_until(
        "two notifications in the mounted folder",
        lambda: (found := sorted(pod.notifications.glob("*.txt"))) and len(found) >= 2 and found,
        timeout=120,
        diagnose=lambda: podman.logs(pod.daemon, pod.sandbox),
    )
    for note in notes:
        assert note.stat().st_uid == UID  # written by the container's user, not root
        title, _, body = note.read_text(encoding="utf-8").partition("\n\n")
        assert title.strip() and body.strip(), note


def test_the_daemon_runs_as_10001_and_reads_the_key_from_the_secret(
    podman: Podman, pod: Pod
) -> None:
    assert podman("exec", pod.daemon, "id", "-u").stdout.strip() == str(UID)
    env = podman("exec", pod.daemon, "env").stdout.splitlines()
    # The key is nowhere but the secret: not in the config, not in the environment.
    assert "CREDENTIALS_DIRECTORY=/run/secrets" in env
    assert not [line for line in env if line.startswith("TOSSD_API_KEY=")]
    assert (
        podman("exec", pod.daemon, "test", "-s", "/run/secrets/api_key", check=False).returncode
        == 0
    )
    # ...and the sandbox, which refuses any other key, answered: the health check passes.
    wait_until(
        "`podman healthcheck run` to pass",
        lambda: podman("healthcheck", "run", pod.daemon, check=False).returncode == 0,
        timeout=60,
        interval=1,
        diagnose=lambda: podman.logs(pod.daemon, pod.sandbox),
    )


def test_tossd_events_through_podman_exec(podman: Podman, pod: Pod) -> None:
    def events() -> list[dict[str, object]]:
        result = podman("exec", pod.daemon, "tossd", "events", "--json", "--limit=20")
        return [json.loads(line) for line in result.stdout.splitlines()]

    found = wait_until(
        "stored events", events, timeout=60, diagnose=lambda: podman.logs(pod.daemon)
    )
    assert {str(event["kind"]) for event in found} <= EVENT_KINDS
    assert all(event["id"] and event["extensionid"] for event in found)


def test_the_state_lives_in_the_volume(podman: Podman, pod: Pod) -> None:
    mountpoint = Path(
        podman("volume", "inspect", "--format", "{{.Mountpoint}}", pod.state_volume).stdout.strip()
    )
    database = mountpoint / "tossd.db"
    assert database.is_file()
    assert database.stat().st_uid == UID


def test_healthy_while_the_api_answers_unhealthy_after_it_stops(podman: Podman, pod: Pod) -> None:
    """Last in this module: it stops the sandbox."""
    wait_until(
        "`podman healthcheck run` to pass",
        lambda: podman("healthcheck", "run", pod.daemon, check=False).returncode == 0,
        timeout=60,
        interval=1,
        diagnose=lambda: podman.logs(pod.daemon, pod.sandbox),
    )
    podman("stop", "--time=5", pod.sandbox)

    def unhealthy() -> str | None:
        result = podman("healthcheck", "run", pod.daemon, check=False)
        return result.stdout if result.returncode == 1 else None

    # Stale once a stream has not succeeded for three poll intervals (2 s here).
    output = wait_until(
        "`podman healthcheck run` to report unhealthy",
        unhealthy,
        timeout=90,
        interval=1,
        diagnose=lambda: podman.logs(pod.daemon),
    )
    assert "unhealthy" in output


def test_the_image_runs_the_demo_and_exits_0(podman: Podman, image: str) -> None:
    result = podman("run", "--rm", image, "demo", "--for", "15", timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tossd demo stopped." in result.stdout
    assert ">>> " in result.stdout  # at least one notification was delivered and echoed
