"""Allow `python -m tossd`."""

from __future__ import annotations

from tossd.cli.main import main

main()
