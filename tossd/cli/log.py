"""Logging setup: structlog everywhere, JSON off a TTY or under systemd, secrets redacted."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Literal, TextIO

import structlog

from tossd.text.masking import secret_pattern

LogFormat = Literal["auto", "json", "console"]

REDACTED = "***"


class SecretRedactor:
    """A structlog processor that replaces every known secret inside any string it logs.

    Secrets are registered at start (the API key, the secret parts of Apprise URLs). One of
    8 characters or more is caught anywhere, even inside an error message; a shorter one only
    as a whole word (`tossd.text.masking.secret_pattern`), so the sandbox's key "sandbox"
    does not turn `sandbox.listening` into `***.listening`.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._pattern = secret_pattern(secrets)

    def redact(self, value: Any) -> Any:
        if isinstance(value, str):
            return value if self._pattern is None else self._pattern.sub(REDACTED, value)
        if isinstance(value, Mapping):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact(v) for v in value)
        return value

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if self._pattern is None:
            return event_dict
        for key, value in event_dict.items():
            event_dict[key] = self.redact(value)
        return event_dict


def wants_json(fmt: LogFormat, stream: TextIO, env: Mapping[str, str]) -> bool:
    """`auto` means JSON for machines (systemd's journal, Docker, pipes), console for people."""
    if fmt != "auto":
        return fmt == "json"
    under_systemd = "JOURNAL_STREAM" in env or "INVOCATION_ID" in env
    return under_systemd or not stream.isatty()


def configure_logging(
    level: str = "info",
    fmt: LogFormat = "auto",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Route structlog and the stdlib loggers (httpx, apscheduler, alembic) to one renderer."""
    out = stream or sys.stderr
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if wants_json(fmt, out, os.environ if env is None else env)
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        SecretRedactor(secrets),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO; that is noise for a poller that runs all day.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # APScheduler's executor says "Running job" and "executed successfully" at INFO for every
    # run of every job: 43 % of an idle day's log. Misses and failures are WARNING and up.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    # Its scheduler says "Added job" and "Removed job" at INFO: three of each for every call
    # that makes a voicemail box due. Our own lines say what the jobs did.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    # Alembic narrates every migration step at INFO, at every start.
    logging.getLogger("alembic").setLevel(logging.WARNING)
