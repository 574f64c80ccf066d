"""What a notification says: sandboxed Jinja2 templates over cleaned values (pure).

The only I/O is reading the default templates shipped in `tossd/notify/templates/`.
Text from the API reaches a template only as data in the context, cleaned for the target
kind; it is never template source, so `{{ 7*7 }}` in a caller name stays those characters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from tossd.domain import EventKind, KnownExtension, StoredEvent, TargetKind
from tossd.errors import ConfigError, TemplateRenderError
from tossd.notify.transcript import Transcribed, transcript_values
from tossd.text.counting import counted
from tossd.text.phone import format_number, is_dialable, place_of
from tossd.text.sanitize import clean, clean_title
from tossd.text.untrusted import bounded, one_line
from tossd.text.zones import local_moment

NAME_LEN = 80
NUMBER_LEN = 40
SMS_LEN = 1600
PREVIEW_LEN = 80
STATUS_LEN = 24
#: Events listed in a digest; the rest are counted ("… and 382 more").
DIGEST_LINES = 30
ERROR_LEN = 200

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: (label, one, many), in the order a digest counts them: what needs listening to first.
_WORDS: dict[EventKind, tuple[str, str, str]] = {
    EventKind.VOICEMAIL: ("Voicemail", "voicemail", "voicemails"),
    EventKind.MISSED_CALL: ("Missed call", "missed call", "missed calls"),
    EventKind.CALL: ("Call", "call", "calls"),
    EventKind.SMS: ("Text message", "text", "texts"),
}
#: Payload fields: the caller's name and number, and the DID reached (used when the
#: extension is unknown). Texts carry no name, voicemails no DID.
_FIELDS: dict[EventKind, tuple[str | None, str, str | None]] = {
    EventKind.CALL: ("callername", "callernum", "callednum"),
    EventKind.MISSED_CALL: ("callername", "callernum", "callednum"),
    EventKind.VOICEMAIL: ("calleridname", "callerid", None),
    EventKind.SMS: (None, "source", "destination"),
}


# Text templates, so no autoescape: values are made safe by `clean` for the target instead.
# ChainableUndefined: a typo or a missing section (`voicemail.length_s` on a call) prints
# nothing instead of losing the notification; calling something undefined still raises, and
# so does the sandbox on `__class__`-style escapes that go further than reading.
# auto_reload off: the shipped templates never change while the daemon runs.
_ENV = SandboxedEnvironment(
    loader=jinja2.PackageLoader("tossd.notify", "templates"),
    autoescape=False,
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    auto_reload=False,
    finalize=lambda value: "" if value is None else value,
)


def compile_template(source: str, *, name: str) -> jinja2.Template:
    """A route's own template; `name` is its config key, e.g. `route[0].body_template`."""
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        reason = exc.message or "syntax error"
        raise ConfigError(f"{name}: {reason} (line {exc.lineno})") from exc


def event_context(
    event: StoredEvent,
    extension: KnownExtension | None,
    *,
    kind: TargetKind,
    tz: tzinfo,
    audio_note: str | None,
    transcript: Transcribed = (None, None),
) -> dict[str, Any]:
    """Everything a template may use; API values and transcripts are cleaned for `kind`."""
    p = event.payload
    moment = local_moment(event.occurred_at, tz)
    is_call = event.kind in (EventKind.CALL, EventKind.MISSED_CALL)
    seconds = _int(p.get("seconds")) if is_call else 0
    status = clean(p.get("status"), kind, max_len=STATUS_LEN) if is_call else ""
    context: dict[str, Any] = {
        "kind": event.kind.value,
        "kind_label": _WORDS[event.kind][0],
        "when": f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} "
        f"{moment:%H:%M}",
        "when_iso": moment.isoformat(),
        "time": f"{moment:%H:%M}",
        "tz": str(tz),
        "tz_abbr": moment.tzname() or "",
        "number": _number(event, extension, kind),
        "caller": _caller(event, kind),
        "duration_s": seconds,
        "duration_text": duration_text(seconds),
        "answered": event.kind is EventKind.CALL and status.lower() != "voicemail",
        "status": status,
        "voicemail": _voicemail(p, kind, transcript) if event.kind is EventKind.VOICEMAIL else None,
        "sms": {"message": clean(p.get("message"), kind, max_len=SMS_LEN, multiline=True)}
        if event.kind is EventKind.SMS
        else None,
        "audio_note": audio_note or "",
    }
    context["detail"] = _detail(event.kind, context, kind)
    return context


def render_event(
    event: StoredEvent,
    extension: KnownExtension | None,
    *,
    kind: TargetKind,
    tz: tzinfo,
    audio_note: str | None,
    title_template: jinja2.Template | None = None,
    body_template: jinja2.Template | None = None,
    transcript: Transcribed = (None, None),
) -> tuple[str, str]:
    """(title, body) for one event; a route's templates override the defaults.

    Raises `TemplateRenderError` (carrying the fallback rendering) when a route's template
    fails; the defaults themselves are trusted to render.
    """
    context = event_context(
        event, extension, kind=kind, tz=tz, audio_note=audio_note, transcript=transcript
    )
    title, title_error = _render(title_template, f"{event.kind.value}.title.j2", context)
    body, body_error = _render(body_template, f"{event.kind.value}.body.j2", context)
    rendered = (clean_title(title, kind), body.strip())
    problems = [
        f"{key}: {error}"
        for key, error in (("title_template", title_error), ("body_template", body_error))
        if error
    ]
    if problems:
        raise TemplateRenderError("; ".join(problems), fallback=rendered)
    return rendered


def render_digest(
    items: Sequence[tuple[StoredEvent, KnownExtension | None]],
    *,
    route: str,
    kind: TargetKind,
    tz: tzinfo,
    held_until_text: str | None,
    burst: bool = False,
    transcripts: Mapping[int, str] | None = None,
) -> tuple[str, str]:
    """One message for the events a route held during quiet hours (or a `burst`), oldest
    first; only the first DIGEST_LINES are listed (a voicemail's with its transcript's start)."""
    ordered = sorted(items, key=lambda item: (item[0].occurred_at, item[0].id))
    t = transcripts or {}
    counts = Counter(event.kind for event, _ in ordered)
    context = {
        "route": route,
        "count": len(ordered),
        "count_text": counted(len(ordered), "event", "events"),
        "counts_text": ", ".join(
            counted(counts[k], one, many) for k, (_, one, many) in _WORDS.items() if counts[k]
        ),
        "held_until": held_until_text or "",
        "burst": burst,
        "events": [
            event_context(e, x, kind=kind, tz=tz, audio_note=None, transcript=(t.get(e.id), None))
            for e, x in ordered[:DIGEST_LINES]
        ],
        "more": max(0, len(ordered) - DIGEST_LINES),
    }
    return _render_pair("digest", context, kind)


def render_test(route: str, target_label: str) -> tuple[str, str]:
    """(title, body) for `tossd notify test`: route and target label come from our config."""
    return _render_pair("test", {"route": route, "target": target_label}, TargetKind.PLAIN)


def duration_text(seconds: int) -> str:
    """125 -> "2 min 05 s"; 3725 -> "1 h 02 min 05 s"; 42 -> "42 s"."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _render_pair(stem: str, context: Mapping[str, Any], kind: TargetKind) -> tuple[str, str]:
    title = _ENV.get_template(f"{stem}.title.j2").render(context)
    return clean_title(title, kind), _ENV.get_template(f"{stem}.body.j2").render(context).strip()


def _render(
    custom: jinja2.Template | None, default_name: str, context: Mapping[str, Any]
) -> tuple[str, str | None]:
    """The route's rendering, or the default's and why the route's failed."""
    error = None
    if custom is not None:
        try:
            return custom.render(context), None
        # A route's template is the owner's code run in the sandbox: whatever it raises
        # (SecurityError, UndefinedError, TypeError...) is that template's failure.
        except Exception as exc:
            error = f"{type(exc).__name__}: {one_line(exc, ERROR_LEN)}"
    return _ENV.get_template(default_name).render(context), error


def _number(
    event: StoredEvent, extension: KnownExtension | None, kind: TargetKind
) -> dict[str, Any]:
    """Which of the account's numbers was reached."""
    if extension is not None:
        did, alias = extension.did, extension.alias
    else:
        field = _FIELDS[event.kind][2]
        did, alias = (str(event.payload.get(field) or "") if field else ""), ""
    did_display = clean(format_number(did), kind, max_len=NUMBER_LEN)
    alias_text = clean(alias, kind, max_len=NAME_LEN)
    return {
        "extensionid": event.extensionid,
        "did": clean(did, kind, max_len=NUMBER_LEN),
        "did_display": did_display,
        "alias": alias_text,
        "label": alias_text or did_display or f"extension {event.extensionid}",
    }


def _caller(event: StoredEvent, kind: TargetKind) -> dict[str, Any]:
    name_field, number_field, _ = _FIELDS[event.kind]
    raw_number = bounded(event.payload.get(number_field) or "", NUMBER_LEN)
    name = clean(event.payload.get(name_field) if name_field else "", kind, max_len=NAME_LEN)
    number_display = clean(format_number(raw_number), kind, max_len=NUMBER_LEN)
    return {
        "name": name,
        "number": clean(raw_number, kind, max_len=NUMBER_LEN),
        "number_display": number_display,
        "place": clean(place_of(raw_number), kind, max_len=NAME_LEN),
        "dialable": is_dialable(raw_number),
        "label": _caller_label(name, raw_number, number_display),
    }


def _caller_label(name: str, raw_number: str, number_display: str) -> str:
    """`Name (+1 212-555-0134)`, or one of them when the other is missing or the same."""
    if not number_display:
        return name or "Unknown caller"
    digits = _digits(name)
    same = name == number_display or (bool(digits) and digits == _digits(raw_number))
    return number_display if not name or same else f"{name} ({number_display})"


def _voicemail(p: Mapping[str, Any], kind: TargetKind, transcript: Transcribed) -> dict[str, Any]:
    length = _int(p.get("length"))
    callback = bounded(p.get("callback") or "", NUMBER_LEN)
    return {
        **transcript_values(transcript, kind),
        "length_s": length,
        "length_text": duration_text(length),
        "callback": clean(callback, kind, max_len=NUMBER_LEN),
        "callback_display": clean(format_number(callback), kind, max_len=NUMBER_LEN),
    }


def _detail(event_kind: EventKind, context: Mapping[str, Any], kind: TargetKind) -> str:
    """A few words for a one-line listing (the digest): length, outcome or a text's start."""
    if event_kind is EventKind.VOICEMAIL:
        said = clean(context["voicemail"]["transcript"], kind, max_len=PREVIEW_LEN)
        return str(context["voicemail"]["length_text"]) + (f": “{said}”" if said else "")
    if event_kind is EventKind.SMS:
        # Cleaning is idempotent: this only folds the lines and shortens.
        return clean(context["sms"]["message"], kind, max_len=PREVIEW_LEN)
    if event_kind is EventKind.MISSED_CALL:
        return ""
    return str(context["duration_text"]) if context["answered"] else "went to voicemail"


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _int(value: object) -> int:
    """Payload numbers were coerced by the API models; digits as text still count."""
    text = bounded(value, 8).strip()
    return int(text) if text.isascii() and text.isdigit() else 0
