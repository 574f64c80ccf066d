"""`[transcribe]`: which engine turns voicemails into text, and how long a notification waits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tossd.config.problems import problem
from tossd.config.secrets import read_secret
from tossd.errors import ConfigError

KEY_ENV = "TOSSD_TRANSCRIBE_KEY"
Engine = Literal["off", "local", "openai"]


class TranscribeConfig(BaseModel):
    """`[transcribe]`: off by default; "local" runs faster-whisper here (the audio never
    leaves the machine), "openai" posts it to any OpenAI-compatible server."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    engine: Engine = "off"
    #: An ISO 639-1 code ("en"); None lets the engine detect it.
    language: str | None = None
    #: Words the engine should expect (names, places): Whisper's `prompt`.
    prompt: str | None = None
    #: How long a voicemail's notification waits for its transcript once the audio is here.
    wait_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    #: Longer recordings are not transcribed (their notification says so).
    max_seconds: int = Field(default=300, ge=1)
    #: Failed transcriptions of one voicemail before giving up.
    attempts: int = Field(default=3, ge=1)
    # The openai engine.
    base_url: str = "https://api.openai.com/v1"
    model: str = "whisper-1"
    key: SecretStr | None = None
    key_file: Annotated[Path, Field(strict=False)] | None = None
    timeout_s: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    # The local engine.
    #: A CTranslate2 Whisper model folder (e.g. faster-whisper-small); None: the pinned base.
    model_dir: Annotated[Path, Field(strict=False)] | None = None
    threads: int = Field(default=1, ge=1, le=64)
    compute_type: Literal["int8", "int8_float32", "float32"] = "int8"
    beam_size: int = Field(default=5, ge=1, le=10)

    _resolved_key: SecretStr | None = PrivateAttr(default=None)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise problem("must be an http:// or https:// URL, e.g. http://127.0.0.1:8000/v1")
        return value.rstrip("/")

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and (not value.isascii() or not value.isalpha() or len(value) > 3):
            raise problem('expected a language code such as "en", or leave it out (auto)')
        return None if value is None else value.lower()

    @model_validator(mode="after")
    def _resolve_key(self, info: ValidationInfo) -> Self:
        if self.key is not None and self.key_file is not None:
            raise problem("set either transcribe.key or transcribe.key_file, not both", "key_file")
        context = info.context
        env = context.get("env") if isinstance(context, Mapping) else None
        self._resolved_key = _find_key(self.key, self.key_file, env or {})
        return self

    @property
    def enabled(self) -> bool:
        return self.engine != "off"

    def bearer(self) -> str | None:
        """The plain key, for the one place that sends it; None: no Authorization header
        (a self-hosted server on loopback needs none)."""
        return None if self._resolved_key is None else self._resolved_key.get_secret_value()

    def require_engine(self) -> Engine:
        if self.engine == "off":
            raise ConfigError('transcribe.engine is "off": set "local" or "openai" first')
        return self.engine


def _find_key(
    key: SecretStr | None, key_file: Path | None, env: Mapping[str, str]
) -> SecretStr | None:
    """transcribe.key, else transcribe.key_file, else $TOSSD_TRANSCRIBE_KEY, else none."""
    if key is not None:
        return SecretStr(key.get_secret_value().strip())
    if key_file is not None:
        return read_secret(key_file, "key_file")
    value = env.get(KEY_ENV, "").strip()
    return SecretStr(value) if value else None
