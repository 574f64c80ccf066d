"""Names in arrays of tables: an unnamed table is named by its place; a repeat is found."""

from __future__ import annotations

import pytest

from tossd.config.naming import named_by_place, repeated_name


def place(index: int) -> str:
    return f"t-{index + 1}"


@pytest.mark.parametrize(
    ("tables", "named"),
    [
        # unnamed tables get the name of their place, 0-based index in
        ([{}, {"a": 1}], ({"name": "t-1"}, {"a": 1, "name": "t-2"})),
        # a named table keeps its name, and the next unnamed one still counts its place
        ([{"name": "x"}, {}], ({"name": "x"}, {"name": "t-2"})),
        # one table (not an array) is left as it is
        ({"a": 1}, {"a": 1}),
        # wrong types are left for pydantic to report, entries and all
        ("nope", "nope"),
        ([{}, 3], ({"name": "t-1"}, 3)),
        # an empty array stays empty
        ([], ()),
    ],
)
def test_named_by_place(tables: object, named: object) -> None:
    assert named_by_place(tables, place) == named


@pytest.mark.parametrize(
    ("names", "repeated"),
    [
        (["a", "b", "c"], None),  # all differ
        (["a", "b", "a", "b"], "a"),  # the first one seen again
        (["x", "y", "y"], "y"),
        ([], None),
    ],
)
def test_repeated_name(names: list[str], repeated: str | None) -> None:
    assert repeated_name(names) == repeated
