"""The Apprise edge: the only code importing apprise; URLs and messages in, typed values out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

import apprise
from apprise.attachment.file import AttachFile
from apprise.decorators import notify as apprise_notify

from tossd.notify import folder_target
from tossd.notify.message import MIB, Message, SendResult, TargetInfo, TargetKind
from tossd.notify.urlmask import SCHEME_RE, redact, url_secrets
from tossd.untrusted import one_line

#: What most mail servers accept once base64 has grown the attachment by a third.
DEFAULT_ATTACHMENT_CAP = 20 * MIB

_KINDS: dict[TargetKind, str] = {
    "email": """mailto mailtos ses sendgrid mailgun sparkpost postmark smtp2go resend brevo
        mailersend sendpulse o365 azure acs groundmail""",
    "sms": """twilio vonage nexmo sinch plivo clicksend bulksms bulkvs msg91 d7sms sns 46elks
        elks atalk burstsms kudosity clickatell cm exotel freemobile httpsms kaleyra klr kavenegar
        mobilemessage mobilemsg msgbird octopush ringc seven serwersms sfr smpp smpps smseagle
        smseagles smsmgr smsmanager smsc smstunnel telesign telnyx voipms infobip notifyre""",
    "json": "json jsons form forms xml xmls",
    # Chat services that render markup; _kind also asks each plugin whether it takes markdown.
    "markdown": "tgram matrix matrixs mmost mmosts rocket rockets",
    "slack": "slack",
    "discord": "discord",
    "file": "tossdfile",
}
_KIND_BY_SCHEME = {scheme: kind for kind, names in _KINDS.items() for scheme in names.split()}
#: Limits the services enforce themselves, which no plugin constant records.
_SERVICE_CAPS = {"ntfy": 15 * MIB, "ntfys": 15 * MIB}
#: Plugin constants that record a service's own attachment limit (Pushover 5 MB, Discord 25 MB).
_CAP_ATTRIBUTES = ("attach_max_size_bytes", "discord_max_attach_bytes")
_ASIDE_RE = re.compile(r"\s*(\([^)]*\)|\"[^\"]*\"|'[^']*')")
#: Apprise schemes are `[a-z0-9]{1,32}`, so tossd-file:// reaches Apprise as tossdfile://.
_FILE_SCHEME = folder_target.SCHEME.replace("-", "")
#: Apprise's registry of schemes (a process-wide singleton).
_PLUGINS = apprise.NotificationManager()  # type: ignore[no-untyped-call]


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


_LOGGER = logging.getLogger(apprise.LOGGER_NAME)
_SECRETS = _SecretFilter()
_LOGGER.addFilter(_SECRETS)

with warnings.catch_warnings():
    # The first lookup imports every plugin; the email plugin imports `imghdr` (for PGPy),
    # which Python 3.11-3.12 deprecate on import. Only that one warning is silenced.
    warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
    # Registration is process-wide in Apprise: the check keeps a re-import from repeating it.
    if _FILE_SCHEME not in _PLUGINS:
        apprise_notify(on=_FILE_SCHEME, name="tossd folder")(  # type: ignore[no-untyped-call]
            folder_target.deliver
        )


class _ThreadWarnings(logging.Handler):
    """Collects this thread's Apprise warnings while a URL is loaded (others may be sending)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def _load(url: str) -> tuple[Any, str | None]:
    """Apprise's plugin for `url`, or None and a reason that quotes no part of the URL."""
    _SECRETS.learn(url)
    scheme, _, rest = url.partition("://")
    if scheme.lower() == folder_target.SCHEME:
        url = f"{_FILE_SCHEME}://{rest}"
    match = SCHEME_RE.match(url)
    if match is None:
        return None, "not an Apprise URL: it does not start with scheme://"
    if match.group(1).lower() not in _PLUGINS:
        return None, "no Apprise service uses this URL's scheme"
    collect = _ThreadWarnings()
    _LOGGER.addHandler(collect)
    try:
        plugin = apprise.Apprise.instantiate(url)
    finally:
        _LOGGER.removeHandler(collect)
    if plugin is None:
        return None, _load_failure(collect.messages, url)
    if _FILE_SCHEME in _schemes(plugin) and not rest.strip("/"):
        return None, "a tossd-file URL needs an absolute folder (three slashes, then the path)"
    return plugin, None


def _load_failure(messages: list[str], url: str) -> str:
    # Apprise quotes the bad value in parentheses or quotes and prints URLs after "URL":
    # keep only its words, and fall back to a fixed reason if anything of the URL is left.
    words = [_ASIDE_RE.sub("", m) for m in messages if "://" not in m and "URL" not in m]
    reason = "Apprise could not load the URL: " + (" ".join(words) or "it is malformed")
    if any(secret in reason for secret in url_secrets(url)):
        return "Apprise could not load the URL: a token, target or option is malformed"
    return one_line(reason, max_len=200)


def validate_url(url: str) -> str | None:
    """None when Apprise can load `url`; else a short reason that quotes no part of it."""
    return _load(url)[1]


def _schemes(plugin: Any) -> frozenset[str]:
    values = [getattr(plugin, attribute, None) for attribute in ("protocol", "secure_protocol")]
    return frozenset(s.lower() for v in values for s in ([v] if isinstance(v, str) else v or ()))


def _kind(plugin: Any, schemes: frozenset[str]) -> TargetKind:
    known = [_KIND_BY_SCHEME[scheme] for scheme in sorted(schemes) if scheme in _KIND_BY_SCHEME]
    if known:
        return known[0]
    # A plugin that only takes markdown gets our text converted (and escaped) to markdown.
    delivered = plugin.resolve_format(apprise.NotifyFormat.TEXT)
    return "markdown" if delivered == apprise.NotifyFormat.MARKDOWN else "plain"


def _supports_attachments(plugin: Any, schemes: frozenset[str]) -> bool:
    # Slack's plugin claims attachment support in every mode, but a webhook drops them with
    # a warning: only the bot (OAuth token) mode uploads files.
    if "slack" in schemes:
        return bool(plugin.attachment_support) and getattr(plugin, "mode", None) == "bot"
    return bool(plugin.attachment_support)


def _attachment_cap(plugin: Any, schemes: frozenset[str]) -> int:
    caps = [DEFAULT_ATTACHMENT_CAP, *(_SERVICE_CAPS[s] for s in schemes if s in _SERVICE_CAPS)]
    for attribute in _CAP_ATTRIBUTES:
        value = getattr(plugin, attribute, None)
        if isinstance(value, int) and value > 0:
            # A raw-byte limit applied to the encoded size (a third larger) errs on the safe side.
            caps.append(value)
    return min(caps)


@functools.lru_cache(maxsize=256)
def target_info(url: str) -> TargetInfo:
    """What the target behind `url` is and takes; ValueError if Apprise cannot load it."""
    plugin, reason = _load(url)
    if plugin is None:
        raise ValueError(reason)
    schemes = _schemes(plugin)
    typed = url.partition("://")[0].lower()
    scheme = typed if typed in {*schemes, folder_target.SCHEME} else min(schemes)
    attachments = _supports_attachments(plugin, schemes)
    cap = _attachment_cap(plugin, schemes) if attachments else 0
    return TargetInfo(scheme, _kind(plugin, schemes), attachments, cap)


async def send(
    url: str, message: Message, *, kind: TargetKind, timeout_s: float = 30
) -> SendResult:
    """Deliver `message` to the one target `url`; failures come back as SendResult(ok=False).

    Apprise has no native async delivery (its async_notify runs each plugin's blocking send()
    in a thread pool), so the whole call runs in a worker thread and the event loop never
    waits on SMTP or HTTP. `kind` is what the renderer prepared the text for; every kind goes
    to Apprise as TEXT, which Apprise escapes itself where a service renders HTML or markdown.
    """
    if kind not in get_args(TargetKind):
        raise ValueError(f"unknown target kind {kind!r}")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    return await _in_daemon_thread(_deliver, url, message, timeout_s)


async def _in_daemon_thread(
    func: Callable[[str, Message, float], SendResult], *args: Any
) -> SendResult:
    """Like asyncio.to_thread, but on a daemon thread: asyncio.run joins the default
    executor at exit, so a send stuck past the stop grace would hold SIGTERM hostage. Here
    the process may exit under it; its ledger row stays pending and is sent again later."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[SendResult] = loop.create_future()

    def settle(outcome: SendResult | BaseException) -> None:
        if future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def work() -> None:
        try:
            outcome: SendResult | BaseException = func(*args)
        except Exception as exc:  # handed to the awaiting task, which raises it
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name="tossd-send", daemon=True).start()
    return await future


def _deliver(url: str, message: Message, timeout_s: float) -> SendResult:
    """The one place that reads Apprise's result: an Apprise holding only `url`, one send."""
    plugin, reason = _load(url)
    if plugin is None:
        return SendResult(ok=False, error=reason)
    attach = apprise.AppriseAttachment(
        [
            AttachFile(str(a.path), name=a.name, mimetype=a.mime)  # type: ignore[no-untyped-call]
            for a in message.attachments
        ]
    )
    # HTML only where we rendered it ourselves (the report, for email); everything else is
    # text, which Apprise escapes per service.
    body, body_format = message.body, apprise.NotifyFormat.TEXT
    if message.html is not None:
        body, body_format = message.html, apprise.NotifyFormat.HTML
    with apprise.Apprise(plugin).notify(
        body=body,
        title=message.title,
        body_format=body_format,
        attach=attach if message.attachments else None,
        timeout=timeout_s,
    ) as result:
        if result:
            return SendResult(ok=True)
        # Apprise captured this one target's WARNING+ lines per attempt: they are the reason,
        # with every secret of the URL masked.
        lines = list(dict.fromkeys(entry.message for entry in result.logs()))
        if result.status == apprise.AppriseResultStatus.TIMEOUT:
            lines.insert(0, f"no answer within {timeout_s:g} s")
        text = "; ".join(lines) or f"Apprise reported {result.status.name} without a reason"
        return SendResult(ok=False, error=one_line(redact(text, url_secrets(url)), max_len=300))


def urls_from_config(path: Path, tags: Sequence[str]) -> list[str]:
    """The URLs an Apprise config file (YAML or text) lists, filtered by `tags` (any of them).

    Raises ValueError with a reason that names no URL when the file yields nothing usable.
    """
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    config = apprise.AppriseConfig()
    if not config.add(str(path)):
        raise ValueError(f"{path}: Apprise could not read it")
    loader = apprise.Apprise()
    loader.add(config)
    wanted: Any = list(tags) if tags else apprise.common.MATCH_ALL_TAG
    services = loader.find(tag=wanted)
    urls = [str(service.url(privacy=False)) for service in services]  # type: ignore[no-untyped-call]
    for url in urls:
        _SECRETS.learn(url)
    if not urls:
        raise ValueError(f"{path}: no notification URL matches the tags")
    return urls
