"""The packaging tier's shared fixtures: podman, the base image, the tossd image, the wheels.

Run by `make test-packaging` (root, Debian 12): tests/packaging/provision.sh installs the
Debian packages first. Trees and the base image are cached in /var/cache/tossd-packaging.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine import PREFIX, Podman
from host import require_root, require_tools, run
from rootfs import CACHE_DIR, IMAGE_BASE, cached_tarball, locked

ROOT = Path(__file__).parents[2]
#: Lines for the end of the run: timings, the image size, the unit's security score.
FIGURES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("packaging figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> list[str]:
    return pytestconfig.stash[FIGURES]


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory, figures: list[str]) -> Podman:
    require_root()
    require_tools("podman", "mmdebstrap", "catatonit")
    engine = Podman(tmp_path_factory.mktemp("podman"))
    swept = engine.sweep()
    if swept:
        figures.append(f"removed from dead runs: {', '.join(swept)}")
    return engine


@pytest.fixture(scope="session")
def base_image(podman: Podman, figures: list[str]) -> str:
    """Debian 12 minbase with python3 and pip, made here: no registry is reachable."""
    tarball = cached_tarball(IMAGE_BASE, figures)
    with locked(CACHE_DIR / "podman-base.lock"):  # one import at a time across runs
        tag = podman.base_image(tarball, IMAGE_BASE.key(), figures)
    # Nothing of tossd's runs here: a failure is this machine's, not the image's.
    probe = podman("run", "--rm", "--network=none", tag, "/bin/true", check=False)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container on this machine: {probe.stderr.strip()}")
    return tag


@pytest.fixture(scope="session")
def image(podman: Podman, base_image: str, figures: list[str]) -> Iterator[str]:
    """The Dockerfile, unchanged, built on the local base (docker format keeps HEALTHCHECK)."""
    tag = f"localhost/{PREFIX}:latest"
    started = time.monotonic()
    podman(
        "build",
        "--pull=never",
        "--format=docker",
        # No intermediate images: the build stage is not kept once the runtime is built.
        "--layers=false",
        f"--build-arg=BASE_IMAGE={base_image}",
        f"--tag={tag}",
        f"--file={ROOT / 'Dockerfile'}",
        ROOT,
        timeout=900,
    )
    size = int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    figures.append(f"image: built in {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    yield tag
    podman("rmi", "-f", tag, check=False)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory, figures: list[str]) -> Path:
    """Wheels of tossd and its dependencies, built on the host (same Debian, same Python)."""
    out = tmp_path_factory.mktemp("wheels")
    started = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "--quiet", f"--wheel-dir={out}", ROOT], timeout=900)
    figures.append(f"wheels: built in {time.monotonic() - started:.0f} s")
    return out
