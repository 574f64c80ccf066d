"""The configuration: frozen per-section models loaded from one TOML file, secrets resolved."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tossd.api.options import ApiOptions
from tossd.config.ops import AlertsConfig, HealthConfig, RetentionConfig
from tossd.config.problems import problem
from tossd.config.report import ReportConfig, check_report_names, with_report_names
from tossd.config.routes import (
    DeliveryConfig,
    RouteConfig,
    check_route_names,
    with_default_names,
)
from tossd.config.secrets import find_key
from tossd.config.transcribe import TranscribeConfig
from tossd.domain import Stream
from tossd.errors import ConfigError

#: Every stream, in the order they are polled (the default of `[poll] streams`).
STREAMS: tuple[Stream, ...] = tuple(Stream)
NO_KEY = (
    "api.key: no API key: set api.key, api.key_file, $TOSSD_API_KEY "
    "or the systemd credential api_key"
)

# Every model is frozen and forbids unknown keys. TOML values are typed, so strict mode turns
# `retries = true` or `timeout_s = "30"` into errors instead of silent coercions; paths and
# lists arrive as str and list, hence lax there. (ConfigDict is spelled out in each class:
# the mypy plugin only sees a literal one, and then flags writes to frozen fields.)
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeSeconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _env_of(info: ValidationInfo) -> Mapping[str, str]:
    """The environment passed by `load_config`; direct construction sees none, on purpose."""
    context = info.context
    env = context.get("env") if isinstance(context, Mapping) else None
    return env if isinstance(env, Mapping) else {}


def _expand_home(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str):
        return value
    if not value.strip():
        raise problem("must not be empty")
    if value == "~" or value.startswith("~/"):
        return (_env_of(info).get("HOME") or str(Path.home())) + value[1:]
    return value


PathValue = Annotated[Path, Field(strict=False), BeforeValidator(_expand_home)]


def default_state_dir(env: Mapping[str, str], *, is_root: bool | None = None) -> Path:
    """`$STATE_DIRECTORY` (systemd), else /var/lib/tossd as root, else ~/.local/state/tossd."""
    systemd_dirs = env.get("STATE_DIRECTORY")
    if systemd_dirs:
        # systemd joins several StateDirectory= entries with ':'; the first one is ours.
        return Path(systemd_dirs.split(":")[0])
    if is_root if is_root is not None else os.geteuid() == 0:
        return Path("/var/lib/tossd")
    return Path(env.get("HOME") or str(Path.home())) / ".local" / "state" / "tossd"


class ApiConfig(ApiOptions):
    """`[api]`: where the Tossable Digits API is, how hard to push it, and the key."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    key: SecretStr | None = None
    key_file: PathValue | None = None

    _resolved_key: SecretStr | None = PrivateAttr(default=None)
    _key_source: str | None = PrivateAttr(default=None)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise problem("must be an http:// or https:// URL")
        return value

    @field_validator("key")
    @classmethod
    def _non_blank_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise problem("must not be empty")
        return value

    @model_validator(mode="after")
    def _resolve_key(self, info: ValidationInfo) -> Self:
        if self.key is not None and self.key_file is not None:
            raise problem("set either api.key or api.key_file, not both", "key_file")
        # Private attributes stay writable on a frozen model; fields would be settable from TOML.
        self._resolved_key, self._key_source = find_key(self.key, self.key_file, _env_of(info))
        return self

    @property
    def resolved_key(self) -> SecretStr | None:
        """The key from api.key, api.key_file, $TOSSD_API_KEY or the credential, in that order."""
        return self._resolved_key

    @property
    def key_source(self) -> str | None:
        """Where the resolved key came from, for humans (never the key itself)."""
        return self._key_source

    def require_key(self) -> str:
        """The plain API key, for the one place that sends it."""
        if self._resolved_key is None:
            raise ConfigError(NO_KEY)
        return self._resolved_key.get_secret_value()


class StoreConfig(BaseModel):
    """`[store]`: the event database."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    url: str | None = None
    #: This daemon's name among the nodes sharing a PostgreSQL store (default: the host's).
    node: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._:-]{1,64}$")

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise problem("must be a database URL such as sqlite:////var/lib/tossd/tossd.db")
        return value

    def effective_url(self, state_dir: Path) -> str:
        """`url` if set, else the SQLite file `tossd.db` in the state directory."""
        return self.url if self.url is not None else f"sqlite:///{state_dir / 'tossd.db'}"


class PollConfig(BaseModel):
    """`[poll]`: what to poll and how often."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    interval_s: Seconds = 60.0
    jitter_s: NonNegativeSeconds = 5.0
    extensions_interval_s: Seconds = 3600.0
    overlap_s: int = Field(default=600, ge=0)
    initial_window_s: int = Field(default=900, ge=0)
    audio_attempts: int = Field(default=10, ge=1)
    # Every voicemail box is checked once per this long, even without a call that reached it.
    voicemail_sweep_s: Seconds = 900.0
    # Lax: TOML gives strings and lists, which become a tuple of the enum's members.
    streams: Annotated[tuple[Annotated[Stream, Strict(False)], ...], Field(strict=False)] = STREAMS
    calls_interval_s: Seconds | None = None
    voicemail_interval_s: Seconds | None = None
    sms_interval_s: Seconds | None = None

    @field_validator("streams")
    @classmethod
    def _distinct_streams(cls, value: tuple[Stream, ...]) -> tuple[Stream, ...]:
        if not value:
            raise problem(f"list at least one of {', '.join(STREAMS)}")
        repeated = sorted({stream for stream in value if value.count(stream) > 1})
        if repeated:
            raise problem(f"listed more than once: {', '.join(repeated)}")
        return value

    def interval_for(self, stream: Stream | str) -> float:
        """The polling interval of one stream: its override, else `interval_s`."""
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
        override: float | None = getattr(self, f"{Stream(stream).value}_interval_s")
        return self.interval_s if override is None else override


class LogConfig(BaseModel):
    """`[log]`: verbosity and rendering (auto: JSON off a TTY or under systemd)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Config(BaseModel):
    """The whole configuration; hand each component only its own section."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    state_dir: PathValue = Field(default_factory=lambda: default_state_dir({}))
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    poll: PollConfig = Field(default_factory=PollConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    route: tuple[RouteConfig, ...] = ()
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    #: `[report]` (one table) or `[[report]]` (several): see `reports`.
    report: ReportConfig | tuple[ReportConfig, ...] = Field(default_factory=ReportConfig)

    @field_validator("report", mode="before")
    @classmethod
    def _report_list(cls, value: Any) -> Any:
        return with_report_names(value)

    @field_validator("report")
    @classmethod
    def _unique_reports(
        cls, value: ReportConfig | tuple[ReportConfig, ...]
    ) -> ReportConfig | tuple[ReportConfig, ...]:
        return check_report_names(value)

    @property
    def reports(self) -> tuple[ReportConfig, ...]:
        """Every configured report: `[report]` alone, or each `[[report]]` table."""
        return (self.report,) if isinstance(self.report, ReportConfig) else self.report

    transcribe: TranscribeConfig = Field(default_factory=TranscribeConfig)

    @field_validator("route", mode="before")
    @classmethod
    def _route_list(cls, value: Any) -> Any:
        return with_default_names(value)

    @field_validator("route")
    @classmethod
    def _unique_routes(cls, value: tuple[RouteConfig, ...]) -> tuple[RouteConfig, ...]:
        return check_route_names(value)

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        env = _env_of(info)
        filled = dict(data)
        filled.setdefault("state_dir", str(default_state_dir(env)))
        # Default factories run without the validation context, so a missing section would
        # never see the environment (e.g. $TOSSD_API_KEY): validate an empty one instead.
        for name, field in cls.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                filled.setdefault(name, {})
        return filled

    @property
    def store_url(self) -> str:
        """The effective database URL (see `StoreConfig.effective_url`)."""
        return self.store.effective_url(self.state_dir)
