"""podman as the tier drives it: this machine's settings, per-run names, logs for failures."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from pathlib import Path

from host import pid_alive, run

#: Every object a run creates is named tossdpkg<pid of the pytest process>...: a later run
#: removes what a killed run left behind, and never touches a run that is still going.
PREFIX = f"tossdpkg{os.getpid()}"
_OWNED = re.compile(r"(?:^|/)tossdpkg(\d+)")
BASE_REPOSITORY = "localhost/tossd-packaging-base"


def containers_conf() -> str:
    """The two settings podman needs on these machines, as a CONTAINERS_CONF file."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(32768, nproc)
    return (
        "# Written by tests/packaging (engine.py) for its own podman commands.\n"
        "[containers]\n"
        "# Raising RLIMIT_NOFILE/NPROC above the host's hard limits is refused: keep to them.\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        "# crun refuses the hybrid cgroup layout of these machines; runc runs it.\n"
        'runtime = "runc"\n'
        "[network]\n"
        "# Debian's podman also ships a CNI config; netavark is the backend installed.\n"
        'network_backend = "netavark"\n'
    )


class Podman:
    """Runs podman (and podman-compose) with the tier's CONTAINERS_CONF."""

    def __init__(self, workdir: Path) -> None:
        self.conf = workdir / "containers.conf"
        self.conf.write_text(containers_conf())
        self.env = {"CONTAINERS_CONF": str(self.conf)}

    def __call__(
        self, *args: str | Path, timeout: float = 120, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run(["podman", *args], timeout=timeout, check=check, env=self.env, input=input)

    @staticmethod
    def name(what: str) -> str:
        return f"{PREFIX}-{what}"

    def logs(self, *containers: str, tail: int = 60) -> str:
        """The last lines of each container's output, for a failure message."""
        parts = []
        for container in containers:
            result = self("logs", "--tail", str(tail), container, check=False, timeout=30)
            state = self(
                "inspect",
                "--format",
                "{{.State.Status}} exit={{.State.ExitCode}}",
                container,
                check=False,
                timeout=30,
            )
            parts.append(
                f"--- podman logs {container} ({state.stdout.strip() or state.stderr.strip()})\n"
                f"{result.stdout}{result.stderr}"
            )
        return "\n".join(parts)

    def base_image(self, tarball: Path, key: str, notes: list[str]) -> str:
        """The imported base tree, tagged by its recipe key; older tags of it are removed."""
        tag = f"{BASE_REPOSITORY}:{key}"
        if self("image", "exists", tag, check=False).returncode == 0:
            notes.append(f"base image: cached ({tag})")
        else:
            started = time.monotonic()
            self("import", "--change", 'CMD ["/bin/bash"]', tarball, tag, timeout=600)
            notes.append(f"base image: imported in {time.monotonic() - started:.0f} s ({tag})")
        listed = self("images", "--format", "{{.Repository}}:{{.Tag}}", BASE_REPOSITORY)
        for other in set(listed.stdout.split()) - {tag}:
            self("rmi", other, check=False)
        return tag

    def sweep(self) -> list[str]:
        """Remove what earlier runs, now dead, left behind (a run killed mid-test)."""
        kinds = [
            # Containers before their pods: `rm -v` also removes their anonymous volumes.
            (["ps", "-a", "--format", "{{.Names}}"], ["rm", "-f", "-v"]),
            (["pod", "ls", "--format", "{{.Name}}"], ["pod", "rm", "-f"]),
            (["volume", "ls", "--format", "{{.Name}}"], ["volume", "rm", "-f"]),
            (["secret", "ls", "--format", "{{.Name}}"], ["secret", "rm"]),
            (["network", "ls", "--format", "{{.Name}}"], ["network", "rm", "-f"]),
            (["images", "--format", "{{.Repository}}:{{.Tag}}"], ["rmi", "-f"]),
        ]
        removed = []
        for listing, removal in kinds:
            for name in self(*listing, check=False).stdout.split():
                owner = _OWNED.search(name)
                if owner and not pid_alive(int(owner.group(1))):
                    self(*removal, name, check=False)
                    removed.append(name)
        return removed
