"""The house's shape: no module of tossd grows into a god module."""

from __future__ import annotations

from pathlib import Path

import tossd

#: STYLE.md: "Keep modules under ~300 lines"; a module past it is split, not excused.
MAX_LINES = 300
PACKAGE = Path(tossd.__file__).parent


def test_no_module_is_over_300_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 100  # the whole package was read
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
