"""Names in arrays of tables (`[[route]]`, `[[report]]`): given by place, and unique.

A table's name identifies its rows in the ledger (and a report's sent periods), so an
unnamed one is named by its place and two tables may never share a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping


def named_by_place(tables: object, default_name: Callable[[int], str]) -> object:
    """Each table of the array without a `name` given `default_name(index)` (0-based);
    anything else (one table, a wrong type for pydantic to report) unchanged."""
    if not isinstance(tables, list | tuple):
        return tables
    return tuple(
        {**table, "name": default_name(index)}
        if isinstance(table, Mapping) and "name" not in table
        else table
        for index, table in enumerate(tables)
    )


def repeated_name(names: Iterable[str]) -> str | None:
    """The first name seen a second time, or None when all differ."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None
