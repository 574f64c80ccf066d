"""Apprise URLs hold tokens and passwords: what of a URL may be shown, and what must be masked."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

#: Stands in for a secret part of a URL (a token, a password).
MASK = "****"
#: Stands in for a whole secret value (the API key, a password in the printed config).
SECRET_MASK = "********"
#: Query options whose values are settings, not secrets.
_PUBLIC_OPTIONS = frozenset({"format", "overflow", "mode", "method", "verify", "optional"})
SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_HOSTNAME_RE = re.compile(r"^(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}$", re.IGNORECASE)


def _is_public_host(host: str) -> bool:
    """Host names and addresses are not secrets; a host that is a token (Telegram) is."""
    try:
        return ipaddress.ip_address(host.strip("[]")).version > 0
    except ValueError:
        return host.lower() == "localhost" or bool(_HOSTNAME_RE.match(host))


def _split(url: str) -> tuple[str, str, str, str, str]:
    scheme, _, rest = url.partition("://")
    head, _, query = rest.partition("?")
    netloc, _, path = head.partition("/")
    userinfo, _, hostport = netloc.rpartition("@")
    return scheme, userinfo, hostport, path, query


def url_secrets(url: str) -> tuple[str, ...]:
    """Every part of `url` that may be a secret, longest first, raw and percent-decoded."""
    if not SCHEME_RE.match(url):
        return (url,) if len(url) >= 4 else ()
    if url.partition("://")[0].lower() == "tossd-file":
        # A local folder: its path is no secret (and masking it hid every "notifications").
        return ()
    _, userinfo, hostport, path, query = _split(url)
    user, _, password = userinfo.partition(":")
    # Passwords always; user names, path segments and hosts only when long enough to be tokens
    # ("admin", "T000" and "notify" stay readable in messages), hosts unless a name or address.
    found = {url, url.partition("://")[2], userinfo, password}
    found.update(part for part in (user, *re.split(r"[/#]", path)) if len(part) > 6)
    found.update(p for p in re.split(r"[:\[\]]", hostport) if len(p) > 6 and not _is_public_host(p))
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if len(value) > 6 and key.lower() not in _PUBLIC_OPTIONS:
            found.add(value)
    found |= {unquote(part) for part in found}
    # A bare "slack://" is no secret; under four characters a part is too common to replace.
    found = {part for part in found if len(part) >= 4 and not part.endswith("://")}
    return tuple(sorted(found, key=len, reverse=True))


def mask_url(url: str) -> str:
    """`url` reduced to what is safe to show: `json://127.0.0.1:8080/...`, `slack://****/...`."""
    if not SCHEME_RE.match(url):
        return MASK
    scheme, userinfo, hostport, path, query = _split(url)
    host, colon, port = hostport.rpartition(":")
    if not (colon and port.isdigit()):
        host, port = hostport, ""
    shown = host if not host or _is_public_host(host) else MASK
    auth = f"{MASK}@" if userinfo else ""
    port = f":{port}" if port else ""
    tail = "/..." if path or query else ""
    return f"{scheme.lower()}://{auth}{shown}{port}{tail}"


#: A secret this long is masked wherever it appears; a shorter one (the sandbox's key
#: "sandbox", a password "pass") only as a whole word, so ordinary words stay readable.
UNAMBIGUOUS_LEN = 8
#: What may touch a word: letters, digits, and the `.`/`-`/`_` of names like "sandbox.listening".
_WORD = r"[\w.-]"


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching every secret in text (longest first); None when there is none."""
    parts = []
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        escaped = re.escape(secret)
        if len(secret) < UNAMBIGUOUS_LEN:
            escaped = f"(?<!{_WORD}){escaped}(?!{_WORD})"
        parts.append(escaped)
    return re.compile("|".join(parts)) if parts else None


def redact(text: str, secrets: Iterable[str], mask: str = MASK) -> str:
    """`text` with each secret masked (see `secret_pattern` for when a short one is)."""
    pattern = secret_pattern(secrets)
    return text if pattern is None else pattern.sub(mask, text)


def mask_password(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:********@host/db`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{SECRET_MASK}@{hostinfo}"))
