"""The TossdError tree: every error tossd raises on purpose.

    TossdError
    ├── ConfigError                  bad configuration (the CLI exits 78)
    ├── ApiError                     anything the Tossable Digits API did wrong
    │   ├── ApiUnavailable           transient: worth retrying with backoff
    │   │   ├── ApiTimeout           no answer within `timeout_s`
    │   │   ├── ApiConnectError      could not connect / connection dropped
    │   │   ├── ApiServerError       HTTP 5xx (or another non-200 status)
    │   │   └── ApiRateLimited       over the provider's request budget (HTTP 429 or its words)
    │   ├── ApiHttpError             HTTP 4xx: a wrong URL or a proxy refusing us (not retried)
    │   ├── ApiMalformedReply        the body is not a valid envelope (retried on the next poll)
    │   ├── ApiCallWithheld          not sent: this node no longer polls (another one leads)
    │   └── ApiRejected              `status:false`: the provider said no, with its `msgs`
    │       ├── ApiKeyRejected       ... about the API key (fatal for the account)
    │       ├── ApiUnsupported       ... the method or feature is not on this account
    │       └── ApiMissingParameter  ... it wants a parameter tossd left out (e.g. account-wide)
    ├── StoreError                   the event store could not do its job
    │   ├── StoreCorrupt             the database file is damaged (the CLI exits 65)
    │   └── LeadershipLost           a poll commit refused: a newer leader polls (its term)
    ├── ListenError                  the health endpoint's port is taken (the CLI exits 69)
    ├── TranscribeError              a voicemail could not be turned into text (retried)
    │   └── TranscribeUnavailable    the engine cannot run here at all (not retried)
    └── TemplateRenderError          a route's template failed; the default one was used

Each class's docstring is its default message. Messages never carry the API key.
"""

from __future__ import annotations


class TossdError(Exception):
    """tossd failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(TossdError):
    """The configuration is invalid."""


class ListenError(TossdError):
    """The health endpoint could not listen on its address."""


class ApiError(TossdError):
    """The Tossable Digits API call failed."""

    transient = False


class ApiUnavailable(ApiError):
    """The Tossable Digits API could not be reached."""

    transient = True


class ApiTimeout(ApiUnavailable):
    """The Tossable Digits API did not answer in time."""


class ApiConnectError(ApiUnavailable):
    """Could not connect to the Tossable Digits API."""


class ApiServerError(ApiUnavailable):
    """The Tossable Digits API answered with an HTTP error."""

    def __init__(self, message: str | None = None, *, status_code: int = 0) -> None:
        super().__init__(message)
        self.status_code = status_code


class ApiRateLimited(ApiUnavailable):
    """The Tossable Digits API refused a request over its rate limit."""


class ApiHttpError(ApiError):
    """The Tossable Digits API answered with an HTTP client error."""

    def __init__(self, message: str | None = None, *, status_code: int = 0) -> None:
        super().__init__(message)
        self.status_code = status_code


class ApiMalformedReply(ApiError):
    """The Tossable Digits API sent a reply that is not a valid envelope."""

    def __init__(self, message: str | None = None, *, excerpt: str = "") -> None:
        super().__init__(message)
        self.excerpt = excerpt


class ApiCallWithheld(ApiError):
    """Not sent: this node no longer leads the polling, another node does."""


class ApiRejected(ApiError):
    """The Tossable Digits API refused the request."""

    def __init__(self, message: str | None = None, *, msgs: tuple[str, ...] = ()) -> None:
        super().__init__(message or ("; ".join(msgs) if msgs else None))
        self.msgs = msgs


class ApiKeyRejected(ApiRejected):
    """The Tossable Digits API rejected the API key."""


class ApiUnsupported(ApiRejected):
    """The Tossable Digits API does not offer this method or feature to this account."""


class ApiMissingParameter(ApiRejected):
    """The Tossable Digits API wants a parameter that was not sent."""

    def __init__(
        self, message: str | None = None, *, msgs: tuple[str, ...] = (), parameter: str = ""
    ) -> None:
        super().__init__(message, msgs=msgs)
        self.parameter = parameter


class StoreError(TossdError):
    """The event store failed."""


class StoreCorrupt(StoreError):
    """The database file is damaged (not a database, or a malformed page)."""


class LeadershipLost(StoreError):
    """A newer leader has taken over the polling: this node's poll commit is refused."""


class TemplateRenderError(TossdError):
    """A route's template failed to render; the default template was used instead.

    The caller logs the message and sends `fallback`, the (title, body) rendered with the
    default for the failing part: a broken template never loses a notification.
    """

    def __init__(self, message: str | None = None, *, fallback: tuple[str, str]) -> None:
        super().__init__(message)
        self.fallback = fallback


class TranscribeError(TossdError):
    """The voicemail could not be transcribed."""

    transient = True


class TranscribeUnavailable(TranscribeError):
    """The transcription engine cannot run (its extra, weights or key is missing or wrong)."""

    transient = False
