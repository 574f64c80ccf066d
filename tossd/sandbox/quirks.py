"""How the sandbox's provider behaves where the real one is unknown: what it refuses, how late
it publishes, and how many requests a second it takes (`../shared/tossable-api.md`)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

RATE_LIMIT_MESSAGE = "Rate limit exceeded: too many requests, slow down"
NO_SMS_MESSAGE = "Unknown method smsGet"


@dataclass
class Quirks:
    """The account's provider-side settings; the defaults are the most helpful provider."""

    #: `callRecords` without `extensionid` covers the whole account; False asks for one.
    account_wide_calls: bool = True
    #: `smsGet` without `did` covers the whole account; False asks for a DID.
    account_wide_sms: bool = True
    #: False: the account has no SMS, and `smsGet` is an unknown method.
    sms_enabled: bool = True
    #: A call record is listed this many seconds after the call began.
    call_lag_s: int = 0
    #: A voicemail (and its clip) is listed this many seconds after its timestamp.
    voicemail_lag_s: int = 0


@dataclass
class RequestMeter:
    """Every request's arrival: the most seen within any one second, and a rate limit.

    The limit is a token bucket of `rate` tokens refilled at `rate` a second, the way a PHP
    service fronted by a limiter refuses: a request without a token gets `status:false`.
    """

    rate: float | None = None
    clock: Callable[[], float] = time.monotonic
    refused: int = 0
    peak_per_s: int = 0
    _window: deque[float] = field(default_factory=deque)
    _tokens: float = 0.0
    _updated: float | None = None

    def admit(self) -> bool:
        """Count one arrival; False when it is over the rate limit (it is counted anyway)."""
        now = self.clock()
        self._window.append(now)
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        self.peak_per_s = max(self.peak_per_s, len(self._window))
        if self.rate is None:
            return True
        if self._updated is None:
            self._tokens = self.rate
        else:
            self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1.0:
            self.refused += 1
            return False
        self._tokens -= 1.0
        return True
