"""Counts as people write them: "1 call", "3 calls"."""

from __future__ import annotations


def counted(n: int, one: str, many: str | None = None) -> str:
    """`counted(1, "call")` -> "1 call"; `counted(3, "call")` -> "3 calls"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
