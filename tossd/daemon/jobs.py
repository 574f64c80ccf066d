"""The one catch-all around each scheduled job: a failure is logged and the daemon carries on.

A failure tossd knows (the store locked, the API down: a `TossdError`) is one line with its
message, which names what failed; a traceback is for what nobody expected. While the store
was locked, each tick's traceback was some fifty lines for a failure one line explains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from tossd.errors import TossdError

log = structlog.get_logger(__name__)


async def run_job(
    name: str, work: Callable[[], Awaitable[None]], running: set[asyncio.Task[Any]]
) -> None:
    """Run `work`, counted in `running` meanwhile (the stop waits for those)."""
    task = asyncio.current_task()
    if task is not None:
        running.add(task)
    try:
        await work()
    except asyncio.CancelledError:
        # Only the stop cancels jobs (a paced sweep may still be under way): an expected
        # end, said once, not an error traceback from the scheduler for every SIGTERM.
        log.info("job.cancelled", job=name)
    except TossdError as exc:
        log.error("job.failed", job=name, error=exc.message, error_type=type(exc).__name__)
    except Exception:
        log.exception("job.failed", job=name)
    finally:
        if task is not None:
            running.discard(task)
