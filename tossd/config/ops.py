"""`[health]` and `[retention]`: how tossd is watched and how long it keeps what it stored."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tossd.config.problems import problem

DEFAULT_HEALTH_LISTEN = "127.0.0.1:9187"


class Listen(NamedTuple):
    host: str
    port: int


def parse_listen(text: str, *, allow_port_zero: bool = False) -> Listen:
    """`host:port` or `[v6]:port` (pure); port 0 (any free port) only when allowed (tests)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f'expected "host:port", e.g. "{DEFAULT_HEALTH_LISTEN}"')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError('write an IPv6 address in brackets: "[::1]:9187"')
    port = int(port_text)
    if not (0 if allow_port_zero else 1) <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    return Listen(host, port)


class HealthConfig(BaseModel):
    """`[health]`: the /healthz and /metrics HTTP server (off unless `listen` is set)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: e.g. "127.0.0.1:9187"; both endpoints are unauthenticated, so keep it on loopback or
    #: a private network.
    listen: str | None = None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_listen(value)
            except ValueError as exc:
                raise problem(str(exc)) from None
        return value

    @property
    def address(self) -> Listen | None:
        return None if self.listen is None else parse_listen(self.listen)


class RetentionConfig(BaseModel):
    """`[retention]`: voicemail audio and events older than this many days are deleted."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    audio_days: int = Field(default=90, ge=1)
    events_days: int = Field(default=365, ge=1)


class AlertsConfig(BaseModel):
    """`[alerts]`: when routes with `events = ["tossd_error"]` hear about tossd's own trouble."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    #: A stream whose polls fail this many cycles in a row raises an alert.
    after_failures: int = Field(default=3, ge=1)
