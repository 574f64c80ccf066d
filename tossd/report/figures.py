"""A report's figures per number, from the provider's records (and the store where it has
more): one set of values that the text and the chart both show (pure)."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from tossd.api.models import CallRecord, CallSummary, Extension, Sms, Voicemail
from tossd.domain import KnownExtension
from tossd.poll.translate import digits, listed_extension
from tossd.report.provider import ProviderPeriod
from tossd.store.stats import StoredCounts

TOP_CALLERS = 5
#: The status the provider gives a call that voicemail picked up (see notify.render too).
VOICEMAIL_STATUS = "voicemail"


@dataclass(frozen=True)
class Counts:
    """Calls in one slot (an hour or a day): picked up by a person, by voicemail, by nobody."""

    answered: int = 0
    voicemail: int = 0
    missed: int = 0

    @property
    def calls(self) -> int:
        return self.answered + self.voicemail + self.missed

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class TopCaller:
    """A caller by number (raw, untrusted) with the latest name shown for it (untrusted)."""

    number: str
    name: str
    calls: int


@dataclass(frozen=True)
class Figures:
    """What one number (or the account: their sum) did in the period."""

    calls: int = 0
    answered: int = 0
    voicemail_calls: int = 0
    missed: int = 0
    minutes: int = 0
    longest_minutes: int = 0
    voicemails: int = 0
    texts_in: int = 0
    texts_out: int = 0

    @property
    def texts(self) -> int:
        return self.texts_in + self.texts_out

    @property
    def average_minutes(self) -> float:
        return self.minutes / self.calls if self.calls else 0.0

    @property
    def missed_share(self) -> float:
        """Missed calls as a share of all calls (0 without calls)."""
        return self.missed / self.calls if self.calls else 0.0

    def __add__(self, other: Figures) -> Figures:
        added = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        return Figures(
            **added | {"longest_minutes": max(self.longest_minutes, other.longest_minutes)}
        )


@dataclass(frozen=True)
class NumberReport:
    """One number's period: its figures, calls per slot, top callers, and where figures came
    from whenever the provider's sources disagree or one of them is missing."""

    extension: KnownExtension
    figures: Figures
    #: Aligned with `Report.slots`: hours of a day, days of a week or month.
    slots: tuple[Counts, ...]
    top_callers: tuple[TopCaller, ...]
    #: The local hour of each call, for "busiest hours" across a week or month.
    hours: Counter[int] = field(default_factory=Counter)
    notes: tuple[str, ...] = ()
    summary: CallSummary | None = None

    def ended_by(self, moment: int) -> bool:
        return 0 < self.extension.enddate <= moment


def outcome(record: CallRecord) -> str:
    """answered / voicemail / missed: nobody picked up a call with `seconds == 0`."""
    if record.seconds == 0:
        return "missed"
    return "voicemail" if record.status.strip().lower() == VOICEMAIL_STATUS else "answered"


def _top_callers(calls: Sequence[CallRecord]) -> tuple[TopCaller, ...]:
    counted: Counter[str] = Counter()
    names: dict[str, str] = {}
    last: dict[str, int] = {}
    for call in sorted(calls, key=lambda c: c.startdate):
        number = call.callernum.strip()
        counted[number] += 1
        last[number] = call.startdate
        if call.callername.strip():
            names[number] = call.callername.strip()  # oldest first: the latest name wins
    ranked = sorted(counted, key=lambda n: (-counted[n], -last[n], n))
    return tuple(TopCaller(n, names.get(n, ""), counted[n]) for n in ranked[:TOP_CALLERS])


def top_callers(numbers: Sequence[NumberReport]) -> tuple[TopCaller, ...]:
    """The account's busiest callers across its numbers."""
    merged: Counter[str] = Counter()
    names: dict[str, str] = {}
    for number in numbers:
        for caller in number.top_callers:
            merged[caller.number] += caller.calls
            names[caller.number] = names.get(caller.number) or caller.name
    ranked = sorted(merged, key=lambda n: (-merged[n], n))
    return tuple(TopCaller(n, names[n], merged[n]) for n in ranked[:TOP_CALLERS])


def _text_owner(text: Sms, numbers: Sequence[Extension]) -> int | None:
    """The number a text belongs to: its DID's, live at the text's time (a DID may have
    served several extensions over the years)."""
    did = digits(text.destination if text.direction != "out" else text.source)
    owners = [e for e in numbers if digits(e.did) == did]
    ts = text.timestamp
    live = [e for e in owners if e.startdate <= ts and (e.enddate == 0 or e.enddate > ts)]
    chosen = live or owners
    return chosen[0].extensionid if chosen else None


def _texts(provider: ProviderPeriod) -> dict[int, tuple[int, int]]:
    """(in, out) texts per number, each text once (a per-DID listing may repeat one)."""
    counted: dict[int, Counter[str]] = {}
    seen: set[str] = set()
    for text in provider.texts or ():
        owner = _text_owner(text, provider.extensions)
        if owner is None or text.smsid in seen:
            continue
        seen.add(text.smsid)
        counted.setdefault(owner, Counter())["out" if text.direction == "out" else "in"] += 1
    return {eid: (c["in"], c["out"]) for eid, c in counted.items()}


def number_reports(
    provider: ProviderPeriod,
    stored: Mapping[int, StoredCounts],
    slot_starts: Sequence[int],
    hour_of: Mapping[int, int],
) -> list[NumberReport]:
    """Each number's figures; `slot_starts` are the first seconds of the chart's slots and
    `hour_of` gives each call's local hour (by its start), for busiest hours."""
    by_number: dict[int, list[CallRecord]] = {e.extensionid: [] for e in provider.extensions}
    for call in provider.calls:
        by_number[call.extensionid].append(call)
    texts = _texts(provider)
    reports = []
    for ext in provider.extensions:
        eid, calls = ext.extensionid, by_number[ext.extensionid]
        notes: list[str] = []
        outcomes = Counter(outcome(c) for c in calls)
        summary = provider.summaries.get(eid)
        minutes, longest = _minutes(calls, summary, notes)
        store = stored.get(eid, StoredCounts())
        vmids = _voicemails(provider.voicemails.get(eid), store, notes)
        texts_in, texts_out = texts.get(eid, (0, 0))
        if provider.texts is None:
            texts_in = store.texts_in
            notes.append(f"texts from tossd's records ({texts_in}, received only)")
        slots = [Counts()] * len(slot_starts)
        for call in calls:
            index = bisect.bisect_right(slot_starts, call.startdate) - 1
            slots[index] = slots[index] + Counts(**{outcome(call): 1})
        figures = Figures(
            len(calls),
            outcomes["answered"],
            outcomes["voicemail"],
            outcomes["missed"],
            minutes,
            longest,
            len(vmids),
            texts_in,
            texts_out,
        )
        hours = Counter(hour_of[c.startdate] for c in calls)
        known = listed_extension(ext).known()
        reports.append(
            NumberReport(
                known, figures, tuple(slots), _top_callers(calls), hours, tuple(notes), summary
            )
        )
    return reports


def _minutes(
    calls: Sequence[CallRecord], summary: CallSummary | None, notes: list[str]
) -> tuple[int, int]:
    """(total, longest) billed minutes: the provider's callSummary, else its call records."""
    if summary is None:
        if calls:
            notes.append("callSummary unavailable: minutes added up from the call records")
        return sum(c.duration for c in calls), max((c.duration for c in calls), default=0)
    if summary.totalcalls != len(calls):
        notes.append(
            f"callSummary counts {summary.totalcalls} calls, callRecords lists {len(calls)}:"
            " the calls listed are shown"
        )
    return summary.totalduration, summary.maxduration


def _voicemails(
    box: Sequence[Voicemail] | None, store: StoredCounts, notes: list[str]
) -> frozenset[str]:
    """The period's voicemails: the provider's box, plus those only tossd still has (deleted
    at the provider since). Without the box, the store's alone."""
    if box is None:
        notes.append(f"voicemail box unavailable: {len(store.vmids)} from tossd's records")
        return store.vmids
    listed = frozenset(v.vmid for v in box)
    deleted = store.vmids - listed
    if deleted:
        notes.append(
            f"{len(deleted)} voicemail(s) deleted at Tossable Digits, counted from tossd's records"
        )
    return listed | store.vmids
