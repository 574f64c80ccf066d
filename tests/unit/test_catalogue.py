"""The schemes a plugin's source declares: what `catalogue` reads without importing it."""

from __future__ import annotations

import pytest

from tossd.notify.apprise.catalogue import declared_schemes


@pytest.mark.parametrize(
    ("source", "schemes"),
    [
        # the common form: one insecure and one secure scheme, double quotes
        ('class A:\n    protocol = "json"\n    secure_protocol = "jsons"\n', ["json", "jsons"]),
        # a tuple over several lines, single quotes, upper case folded
        (
            "class A:\n    secure_protocol = (\n        'Slack',\n        'slacks',\n    )\n",
            ["slack", "slacks"],
        ),
        # a name computed from other attributes (Kodi's) is not guessed: the load falls back
        ("class A:\n    protocol = (kodi_protocol, xbmc_protocol)\n", []),
        # a module-level assignment is not a plugin's class attribute
        ('protocol = "toplevel"\n', []),
        # an instance attribute set in a method is not a declaration (no `=` right after it)
        ("    def f(self):\n        self.protocol = 4\n", []),
        # strings that are not schemes (a MIME type in the email plugin) are dropped
        ('class A:\n    protocol = "application/pgp-encrypted"\n', []),
        # Apprise caps a scheme at 32 characters
        (f'class A:\n    protocol = "{"a" * 33}"\n', []),
        # spacing around `=` varies
        ("class A:\n\tprotocol='ntfy'\n", ["ntfy"]),
    ],
)
def test_declared_schemes(source: str, schemes: list[str]) -> None:
    assert declared_schemes(source) == schemes
