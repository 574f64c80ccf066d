"""What Apprise says of a URL without sending: whether it loads, the target's kind and caps."""

from __future__ import annotations

import difflib
import functools
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apprise

from tossd.domain import MIB, TargetKind
from tossd.notify.apprise import folder as folder_target
from tossd.notify.apprise.plugins import FILE_SCHEME, LOGGER, PLUGINS, ensure, learn, load_all
from tossd.notify.message import TargetInfo
from tossd.text.masking import MASK, SCHEME_RE, mask_url, url_secrets
from tossd.text.untrusted import one_line

#: What most mail servers accept once base64 has grown the attachment by a third.
DEFAULT_ATTACHMENT_CAP = 20 * MIB

_KINDS: dict[TargetKind, str] = {
    TargetKind.EMAIL: """mailto mailtos ses sendgrid mailgun sparkpost postmark smtp2go resend brevo
        mailersend sendpulse o365 azure acs groundmail""",
    TargetKind.SMS: """twilio vonage nexmo sinch plivo clicksend bulksms bulkvs msg91 d7sms sns
        46elks
        elks atalk burstsms kudosity clickatell cm exotel freemobile httpsms kaleyra klr kavenegar
        mobilemessage mobilemsg msgbird octopush ringc seven serwersms sfr smpp smpps smseagle
        smseagles smsmgr smsmanager smsc smstunnel telesign telnyx voipms infobip notifyre""",
    TargetKind.JSON: "json jsons form forms xml xmls",
    # Chat services that render markup; _kind also asks each plugin whether it takes markdown.
    TargetKind.MARKDOWN: "tgram matrix matrixs mmost mmosts rocket rockets",
    TargetKind.SLACK: "slack",
    TargetKind.DISCORD: "discord",
    TargetKind.FILE: "tossdfile",
}
_KIND_BY_SCHEME = {scheme: kind for kind, names in _KINDS.items() for scheme in names.split()}
#: Limits the services enforce themselves, which no plugin constant records.
_SERVICE_CAPS = {"ntfy": 15 * MIB, "ntfys": 15 * MIB}
#: Plugin constants that record a service's own attachment limit (Pushover 5 MB, Discord 25 MB).
_CAP_ATTRIBUTES = ("attach_max_size_bytes", "discord_max_attach_bytes")
_ASIDE_RE = re.compile(r"\s*(\([^)]*\)|\"[^\"]*\"|'[^']*')")


class _ThreadWarnings(logging.Handler):
    """Collects this thread's Apprise warnings while a URL is loaded (others may be sending)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def load(url: str) -> tuple[Any, str | None]:
    """Apprise's plugin for `url`, or None and a reason that quotes no part of the URL."""
    learn(url)
    scheme, _, rest = url.partition("://")
    if scheme.lower() == folder_target.SCHEME:
        url = f"{FILE_SCHEME}://{rest}"
    match = SCHEME_RE.match(url)
    if match is None:
        return None, "not an Apprise URL: it does not start with scheme://"
    typed = match.group(1).lower()
    if not ensure(typed):
        return None, f"no Apprise service uses the scheme {typed}://{_did_you_mean(typed)}"
    collect = _ThreadWarnings()
    LOGGER.addHandler(collect)
    try:
        plugin = apprise.Apprise.instantiate(url)
    finally:
        LOGGER.removeHandler(collect)
    if plugin is None:
        return None, _load_failure(collect.messages, url)
    if FILE_SCHEME in _schemes(plugin) and not rest.strip("/"):
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


def _did_you_mean(scheme: str) -> str:
    # A scheme is a service's name, never a secret: safe to quote, and to suggest.
    known = [*PLUGINS.schemas(), folder_target.SCHEME]  # type: ignore[no-untyped-call]
    close = difflib.get_close_matches(scheme, known, n=1)
    return f" (did you mean {close[0]}://?)" if close else ""


def validate_url(url: str) -> str | None:
    """None when Apprise can load `url`; else a short reason that quotes no part of it."""
    return load(url)[1]


def _schemes(plugin: Any) -> frozenset[str]:
    # The class's attributes: an instance may reuse the name (Kodi's holds its RPC version).
    values = [getattr(type(plugin), name, None) for name in ("protocol", "secure_protocol")]
    names = (s for v in values for s in ([v] if isinstance(v, str) else v or ()))
    return frozenset(s.lower() for s in names if isinstance(s, str))


def _kind(plugin: Any, schemes: frozenset[str]) -> TargetKind:
    known = [_KIND_BY_SCHEME[scheme] for scheme in sorted(schemes) if scheme in _KIND_BY_SCHEME]
    if known:
        return known[0]
    # A plugin that only takes markdown gets our text converted (and escaped) to markdown.
    delivered = plugin.resolve_format(apprise.NotifyFormat.TEXT)
    markdown = delivered == apprise.NotifyFormat.MARKDOWN
    return TargetKind.MARKDOWN if markdown else TargetKind.PLAIN


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
    plugin, reason = load(url)
    if plugin is None:
        raise ValueError(reason)
    schemes = _schemes(plugin)
    typed = url.partition("://")[0].lower()
    scheme = typed if typed in {*schemes, folder_target.SCHEME} else min(schemes)
    attachments = _supports_attachments(plugin, schemes)
    cap = _attachment_cap(plugin, schemes) if attachments else 0
    return TargetInfo(scheme, _kind(plugin, schemes), attachments, cap)


def urls_from_config(path: Path, tags: Sequence[str]) -> list[str]:
    """The URLs an Apprise config file (YAML or text) lists, filtered by `tags` (any of them).

    Raises ValueError with a reason that names no URL when the file yields nothing usable.
    """
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    load_all()  # the file may name any service
    config = apprise.AppriseConfig()
    if not config.add(str(path)):
        raise ValueError(f"{path}: Apprise could not read it")
    loader = apprise.Apprise()
    loader.add(config)
    wanted: Any = list(tags) if tags else apprise.common.MATCH_ALL_TAG
    services = loader.find(tag=wanted)
    urls = [str(service.url(privacy=False)) for service in services]  # type: ignore[no-untyped-call]
    for url in urls:
        learn(url)
    if not urls:
        raise ValueError(f"{path}: no notification URL matches the tags")
    return urls


#: Apprise's private form of a secret ("T...7": its first and last characters); we show none.
_PRIVATE_RE = re.compile(r"[^/:@?&=]?\.\.\.[^/:@?&=]?")


@functools.lru_cache(maxsize=256)
def shown_url(url: str) -> str:
    """`url` as people may see it: what Apprise itself treats as private (tokens, passwords,
    webhook ids) masked, hosts, ports, paths and a local folder shown.

    Apprise's defaulted options are left off; a URL Apprise cannot load is masked whole but
    for its scheme and host."""
    scheme = url.partition("://")[0].lower()
    if scheme == folder_target.SCHEME:
        # A folder on this machine is no secret, and tells two folder targets apart.
        return one_line(url.partition("?")[0], max_len=200)
    plugin, _reason = load(url)
    if plugin is None:
        return mask_url(url)
    private = str(plugin.url(privacy=True)).partition("?")[0]
    return one_line(_PRIVATE_RE.sub(MASK, private).rstrip("/"), max_len=200)


def secret_parts(url: str) -> tuple[str, ...]:
    """The parts of `url` to mask in text about it: those `shown_url` does not show."""
    shown = shown_url(url)
    return tuple(part for part in url_secrets(url) if part not in shown)
