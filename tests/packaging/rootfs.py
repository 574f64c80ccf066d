"""Debian 12 root file systems made by mmdebstrap, cached as tarballs between runs."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from host import run

#: Kept between runs on one machine; TOSSD_PACKAGING_CACHE moves it.
CACHE_DIR = Path(os.environ.get("TOSSD_PACKAGING_CACHE", "/var/cache/tossd-packaging"))
#: A cached tree is rebuilt after a week, so it picks up Debian's (security) updates.
MAX_AGE_S = 7 * 24 * 3600
SUITE = "bookworm"
#: Certificates the host trusts beyond Debian's (a TLS-inspecting proxy's, say): the image's
#: build stage needs them to reach the package index through the same network.
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
#: Bump to rebuild every cached tree after a change to how they are made.
RECIPE_VERSION = "1"


@dataclass(frozen=True)
class Recipe:
    """What goes into one tree: Debian packages over minbase, optionally the host's CAs."""

    name: str
    packages: tuple[str, ...]
    extra_ca: bool = False

    def hooks(self) -> list[str]:
        # Debian marks its Python as externally managed; the image (like python:3.11-slim)
        # and the machine install tossd with pip into the system interpreter.
        hooks = ['rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED']
        if self.extra_ca and extra_ca_files():
            hooks += [
                f"copy-in {EXTRA_CA_DIR} /usr/local/share",
                'chroot "$1" update-ca-certificates',
            ]
        return hooks

    def key(self) -> str:
        digest = hashlib.sha256()
        for part in (RECIPE_VERSION, SUITE, self.name, *self.packages, *self.hooks()):
            digest.update(part.encode() + b"\0")
        inputs = host_sources() + (extra_ca_files() if self.extra_ca else [])
        for path in inputs:
            digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:16]


IMAGE_BASE = Recipe(
    "image-base", ("python3", "python3-pip", "python3-venv", "ca-certificates"), extra_ca=True
)
MACHINE = Recipe("machine", ("systemd", "systemd-sysv", "dbus", "python3", "python3-pip"))


def host_sources() -> list[Path]:
    """The host's apt sources for SUITE (the mirrors this machine can reach)."""
    candidates = [Path("/etc/apt/sources.list")]
    for pattern in ("*.list", "*.sources"):
        candidates += sorted(Path("/etc/apt/sources.list.d").glob(pattern))
    return [p for p in candidates if p.is_file() and SUITE in p.read_text(errors="replace")]


def extra_ca_files() -> list[Path]:
    return sorted(EXTRA_CA_DIR.rglob("*.crt")) if EXTRA_CA_DIR.is_dir() else []


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One builder at a time per tree, across concurrent runs on the machine."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_tarball(recipe: Recipe, notes: list[str]) -> Path:
    """The tarball of `recipe`'s tree, built with mmdebstrap unless a fresh one is cached."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = CACHE_DIR / f"{recipe.name}-{recipe.key()}.tar"
    with locked(CACHE_DIR / f"{recipe.name}.lock"):
        if tarball.is_file() and time.time() - tarball.stat().st_mtime < MAX_AGE_S:
            notes.append(f"{recipe.name} tree: cached ({tarball})")
            return tarball
        for stale in CACHE_DIR.glob(f"{recipe.name}-*.tar*"):
            stale.unlink()
        started = time.monotonic()
        partial = tarball.with_suffix(".tar.partial")
        sources = host_sources()
        if not sources:
            raise RuntimeError(f"no apt source for {SUITE} on this host (/etc/apt/sources.list*)")
        run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--format=tar",
                f"--include={','.join(recipe.packages)}",
                # The host's mirrors may be snapshots whose Release files have expired.
                '--aptopt=Acquire::Check-Valid-Until "false"',
                *(f"--customize-hook={hook}" for hook in recipe.hooks()),
                SUITE,
                partial,
                *sources,
            ],
            timeout=900,
        )
        partial.rename(tarball)
        notes.append(f"{recipe.name} tree: built in {time.monotonic() - started:.0f} s")
        return tarball
