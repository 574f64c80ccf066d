"""Registering tossd's additions with Apprise: once, at start, never at import.

Apprise's plugin registry and its logger are process-wide: the tossd-file:// target and
the filter that masks URL secrets in Apprise's log lines are added by `register()`, which
the daemon and every command call when they build their routes (and the first URL lookup
calls, for code that uses this package directly). Calling it again changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings

import apprise
from apprise.decorators import notify as apprise_notify

from tossd.notify.apprise import folder as folder_target
from tossd.text.masking import redact, url_secrets

#: Apprise schemes are `[a-z0-9]{1,32}`, so tossd-file:// reaches Apprise as tossdfile://.
FILE_SCHEME = folder_target.SCHEME.replace("-", "")
#: Apprise's registry of schemes (a process-wide singleton).
PLUGINS = apprise.NotificationManager()  # type: ignore[no-untyped-call]
LOGGER = logging.getLogger(apprise.LOGGER_NAME)
_registering = threading.Lock()


class _SecretFilter(logging.Filter):
    """Masks the secrets of every URL seen here in each record of Apprise's logger.

    Apprise logs at WARNING the bad token it was given (`An invalid Slack Token (...)`). On
    the logger itself, the filter rewrites both the propagated line and Apprise's
    per-attempt capture, the source of SendResult.error.
    """

    def __init__(self) -> None:
        super().__init__(name=apprise.LOGGER_NAME)
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def learn(self, url: str) -> None:
        with self._lock:
            known = {*self._secrets, *url_secrets(url)}
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        # A malformed record is left for the handler's own error path; a filter must not raise.
        with contextlib.suppress(TypeError, ValueError):
            record.msg, record.args = redact(record.getMessage(), self._secrets), ()
        return True


SECRETS = _SecretFilter()


def register() -> None:
    """Add the secret filter to Apprise's logger and the tossd-file:// plugin (idempotent)."""
    with _registering, warnings.catch_warnings():
        LOGGER.addFilter(SECRETS)  # a filter already present is not added twice
        # The first lookup imports every plugin; the email plugin imports `imghdr` (for PGPy),
        # which Python 3.11-3.12 deprecate on import. Only that one warning is silenced.
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        if FILE_SCHEME not in PLUGINS:
            apprise_notify(on=FILE_SCHEME, name="tossd folder")(  # type: ignore[no-untyped-call]
                folder_target.deliver
            )


def learn(url: str) -> None:
    """Mask `url`'s secrets in Apprise's log from now on (registering first, if not yet)."""
    register()
    SECRETS.learn(url)
