"""Registering tossd's additions with Apprise, and the plugins it needs: at start, never at import.

Apprise's plugin registry and its logger are process-wide: the tossd-file:// target and
the filter that masks URL secrets in Apprise's log lines are added by `register()`, which
the daemon and every command call when they build their routes (and the first URL lookup
calls, for code that uses this package directly). Calling it again changes nothing.

The registry holds only the plugins of the schemes looked up (`ensure`), found by
`catalogue` without importing the others; a scheme the catalogue does not know, or an Apprise
config file, loads them all as Apprise would (`load_all`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apprise
from apprise.decorators import notify as apprise_notify

from tossd.notify.apprise import folder as folder_target
from tossd.notify.apprise.catalogue import plugin_modules
from tossd.text.masking import redact, url_secrets

#: Apprise schemes are `[a-z0-9]{1,32}`, so tossd-file:// reaches Apprise as tossdfile://.
FILE_SCHEME = folder_target.SCHEME.replace("-", "")
#: Apprise's registry of schemes (a process-wide singleton).
PLUGINS = apprise.NotificationManager()  # type: ignore[no-untyped-call]
LOGGER = logging.getLogger(apprise.LOGGER_NAME)
#: Where Apprise's plugin modules live, and the package they are imported from.
_PLUGIN_PACKAGE = PLUGINS.module_name_prefix
_PLUGINS_DIR = Path(PLUGINS.module_path)
#: Apprise's rule for the class its loader takes from a plugin module (the first with app_id).
_CLASS_RE = PLUGINS.module_filter_re
#: Re-entrant: register() and load_all() call each other's steps while holding it.
_registering = threading.RLock()


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


class _KnownTwice(logging.Filter):
    """Drops the registry's complaints, during `load_all`, about plugins `ensure` added first.

    The same class is then mapped to the same schemes twice; Apprise keeps the first mapping
    and logs an error or a warning that would only alarm the reader.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "mismatch detected" not in text and "already loaded; ignoring" not in text


def _start_empty() -> None:
    # Apprise loads every plugin module on its first lookup unless a plugin directory has
    # already been loaded: mark it loaded with an empty one, so plugins come one by one.
    if not PLUGINS:
        with tempfile.TemporaryDirectory(prefix="tossd-apprise-") as empty:
            PLUGINS.load_modules(path=empty)  # type: ignore[no-untyped-call]


def register() -> None:
    """Add the secret filter to Apprise's logger and the tossd-file:// plugin (idempotent)."""
    with _registering:
        LOGGER.addFilter(SECRETS)  # a filter already present is not added twice
        _start_empty()
        if FILE_SCHEME not in PLUGINS:
            apprise_notify(on=FILE_SCHEME, name="tossd folder")(  # type: ignore[no-untyped-call]
                folder_target.deliver
            )


@contextlib.contextmanager
def _importing_plugins() -> Iterator[None]:
    # The email plugin imports `imghdr` (for PGPy), which Python 3.11-3.12 deprecate on
    # import. Only that one warning is silenced.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        yield


def _plugin_class(module_name: str) -> Any:
    with _importing_plugins():
        module = importlib.import_module(f"{_PLUGIN_PACKAGE}.{module_name}")
    for name in dir(module):
        candidate = getattr(module, name)
        if _CLASS_RE.match(name) and hasattr(candidate, "app_id"):
            return candidate
    return None


def ensure(scheme: str) -> bool:
    """Make Apprise know `scheme` (lower case), importing only the plugin that serves it.

    False when no Apprise plugin serves it. A scheme the catalogue cannot place loads every
    plugin, so the answer is always Apprise's own."""
    with _registering:
        register()
        if scheme in PLUGINS:
            return True
        module_name = plugin_modules(_PLUGINS_DIR).get(scheme)
        plugin = _plugin_class(module_name) if module_name else None
        served = set(plugin.schemas(plugin)) if plugin is not None else set()
        if scheme in served:
            PLUGINS.add(plugin, schemas=sorted(served))  # type: ignore[no-untyped-call]
        else:
            load_all()
        return scheme in PLUGINS


def load_all() -> None:
    """Load every Apprise plugin, as Apprise itself does on its first lookup (idempotent)."""
    with _registering:
        register()
        quiet = _KnownTwice()
        LOGGER.addFilter(quiet)
        try:
            with _importing_plugins():
                PLUGINS.load_modules()  # type: ignore[no-untyped-call]
        finally:
            LOGGER.removeFilter(quiet)


def learn(url: str) -> None:
    """Mask `url`'s secrets in Apprise's log from now on (registering first, if not yet)."""
    register()
    SECRETS.learn(url)
