"""How the client reaches the API and how hard it pushes it: the one options object.

`[api]` in the config is this model plus the key (`tossd.config.model.ApiConfig`), so the
names and defaults are written here once for the config, the client and the transport.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tossd.api.envelope import Format
from tossd.retry import RetryPolicy

DEFAULT_API_URL = "https://www.TossableDigits.com/apihttp.php"
#: The longest wait between two retries of one request (the poll retries it next cycle).
MAX_RETRY_WAIT_S = 30.0

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ApiOptions(BaseModel):
    """The API's URL and reply format, the timeout, the limits and the retry schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    url: str = DEFAULT_API_URL
    format: Format = "json"
    timeout_s: Seconds = 30.0
    max_concurrency: int = Field(default=8, ge=1)
    max_requests_per_s: Seconds = 10.0
    retries: int = Field(default=3, ge=0)
    backoff_s: Seconds = 0.5

    @property
    def retry_policy(self) -> RetryPolicy:
        """`retries` more tries after the first failure, full jitter (many pollers at once)."""
        return RetryPolicy(self.backoff_s, MAX_RETRY_WAIT_S, self.retries + 1, jitter=1.0)
