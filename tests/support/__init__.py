"""Helpers every test tier shares: clocks, stores, config files, the CLI, receivers, the sandbox.

Imported as `support`: pytest's default (prepend) import mode puts `tests/`, the directory of
the top conftest, on `sys.path`. Their asserts are rewritten like a test module's, so a failed
one shows its values.
"""

from __future__ import annotations

import pytest

# Registered while the package itself is imported: before any of its modules is.
pytest.register_assert_rewrite(
    *(
        f"support.{name}"
        for name in (
            "cli",
            "clock",
            "config",
            "logs",
            "net",
            "receivers",
            "sandbox",
            "store",
            "systemd",
            "wait",
        )
    )
)
