"""Which Apprise plugin module serves a URL scheme, read from the plugins' source text.

Apprise imports all of its ~130 plugin modules (and requests, oauthlib, ...) the first time
any URL is looked up: ~14 MiB the daemon would hold for ever to send to one or two services.
Its plugins name their schemes in class attributes (`protocol = "mailto"`,
`secure_protocol = ("slack", ...)`), so a scan of the source finds the one module to import
without importing any. The scan is a hint, checked against the class once imported; a
scheme it misses (a few plugins compute theirs) falls back to Apprise's own full load.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Final

#: A plugin module or package, as Apprise's loader matches them (base and private skipped).
_MODULE_RE: Final = re.compile(r"^(?!base|_)[a-z0-9_]+$")
#: `protocol = "x"`, `secure_protocol = ("x", "y")` in a class body (indented).
_DECLARED_RE: Final = re.compile(
    r"^[ \t]+(?:secure_)?protocol[ \t]*=[ \t]*(\([^)]*\)|\"[^\"]*\"|'[^']*')", re.MULTILINE
)
_QUOTED_RE: Final = re.compile(r"[\"']([^\"']*)[\"']")
#: Apprise's own rule for a scheme.
_SCHEME_RE: Final = re.compile(r"^[a-z0-9]{1,32}$")


def declared_schemes(source: str) -> list[str]:
    """The schemes the class attributes in `source` name, lower-cased, in order."""
    found = (
        name.lower()
        for declared in _DECLARED_RE.finditer(source)
        for name in _QUOTED_RE.findall(declared.group(1))
    )
    return [name for name in found if _SCHEME_RE.match(name)]


def _sources(entry: Path) -> list[Path]:
    return [entry] if entry.is_file() else sorted(entry.glob("*.py"))


@functools.cache
def plugin_modules(plugins_dir: Path) -> dict[str, str]:
    """scheme -> name of the module in `plugins_dir` that declares it (the first, as Apprise)."""
    modules: dict[str, str] = {}
    for entry in sorted(plugins_dir.iterdir()):
        name = entry.name.removesuffix(".py")
        if not _MODULE_RE.match(name):
            continue
        if entry.is_file() and entry.suffix != ".py":
            continue
        for path in _sources(entry):
            for scheme in declared_schemes(path.read_text(encoding="utf-8", errors="replace")):
                modules.setdefault(scheme, name)
    return modules
