"""The `tossd` command line: runs the parsed command and maps errors to exit codes.

The only place that exits (`main`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence

from tossd.cli.parser import build_parser
from tossd.errors import (
    ApiError,
    ApiKeyRejected,
    ConfigError,
    ListenError,
    StoreCorrupt,
    TossdError,
)

#: sysexits.h EX_CONFIG: systemd's RestartPreventExitStatus=78 stops restart loops on it.
EXIT_CONFIG = 78
EXIT_API = 69  # EX_UNAVAILABLE
EXIT_AUTH = 77  # EX_NOPERM
#: sysexits.h EX_DATAERR: the database is damaged; the unit does not restart on it either.
EXIT_CORRUPT = 65
#: The one line that says how to get going again after a damaged database.
RECOVER = (
    "to recover, stop tossd and move the database file (and its -wal and -shm files) aside; "
    "tossd then starts a new one, announcing only the last [poll] initial_window_s "
    "(`sqlite3 OLD.db .recover` may save the old history)"
)

Command = Callable[[argparse.Namespace], int]


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command, and map errors to exit codes (no `sys.exit` here)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "config"):
        args.config = None
    func: Command = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(f"tossd: configuration error: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except ApiKeyRejected as exc:
        print(f"tossd: the API key was rejected: {exc.message}", file=sys.stderr)
        return EXIT_AUTH
    except ApiError as exc:
        print(f"tossd: the Tossable Digits API failed: {exc.message}", file=sys.stderr)
        return EXIT_API
    except StoreCorrupt as exc:
        print(f"tossd: the database is damaged: {exc.message}", file=sys.stderr)
        print(f"tossd: {RECOVER}", file=sys.stderr)
        return EXIT_CORRUPT
    except ListenError as exc:
        # A port in use is a runtime failure: systemd restarts the service (not so on 78).
        print(f"tossd: {exc.message}", file=sys.stderr)
        return EXIT_API
    except TossdError as exc:
        print(f"tossd: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main() -> None:
    code = run()
    if threading.active_count() > 1:
        # Apprise sends on its own thread pools, which Python joins at exit: a send stuck on a
        # slow target would keep a stopped daemon alive past its stop timeout. Everything of
        # tossd's is closed by now (a notification still in flight stays pending in the
        # ledger and is sent again), so leave without waiting for those threads.
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)
