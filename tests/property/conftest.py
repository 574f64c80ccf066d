"""Hostile-input property suites: a tally of the inputs tried, printed at the end of the run."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

#: Inputs tried per suite (each hypothesis example and each hand-made hostile input counts).
TRIED: Counter[str] = Counter()


@pytest.fixture(scope="session")
def tally() -> Counter[str]:
    return TRIED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TRIED:
        return
    terminalreporter.section("hostile inputs tried (property)")
    for suite, count in sorted(TRIED.items()):
        terminalreporter.write_line(f"{suite}: {count}")
    terminalreporter.write_line(f"total: {TRIED.total()}")
