"""What the event store knows about one report window, and which nightly reports were sent."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any

from sqlalchemy import Engine, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from tossd.domain import EventKind
from tossd.store.engine import store_errors
from tossd.store.scope import Scopes
from tossd.store.tables import EventRow, ReportRow
from tossd.text.zones import HourKey, hour_key

TOP_CALLERS = 5
#: The status the provider gives a call that voicemail picked up (see notify.render too).
VOICEMAIL_STATUS = "voicemail"


@dataclass(frozen=True)
class HourCounts:
    """Calls in one local hour: picked up by a person, by voicemail, or by nobody."""

    answered: int = 0
    voicemail: int = 0
    missed: int = 0

    @property
    def calls(self) -> int:
        return self.answered + self.voicemail + self.missed


@dataclass(frozen=True)
class TopCaller:
    """A caller by number (raw, untrusted) with the latest name shown for it (untrusted)."""

    number: str
    name: str
    calls: int


@dataclass(frozen=True)
class ExtensionStats:
    """One number's events in a window.

    `calls` counts call records, missed ones included; a voicemail is also a call (voicemail
    answered it), so it counts in both.
    """

    extensionid: int
    calls: int = 0
    missed: int = 0
    voicemails: int = 0
    texts: int = 0
    top_callers: tuple[TopCaller, ...] = ()
    hourly: Mapping[HourKey, HourCounts] = field(default_factory=dict)


@dataclass
class _Tally:
    """The mutable counts of one extension while the rows stream past."""

    kinds: Counter[str] = field(default_factory=Counter)
    callers: Counter[str] = field(default_factory=Counter)
    names: dict[str, str] = field(default_factory=dict)
    last_call: dict[str, int] = field(default_factory=dict)
    hours: dict[HourKey, Counter[str]] = field(default_factory=dict)

    def add_call(self, kind: str, occurred_at: int, payload: Mapping[str, Any], tz: tzinfo) -> None:
        number = str(payload.get("callernum") or "").strip()
        self.callers[number] += 1
        self.last_call[number] = occurred_at
        name = str(payload.get("callername") or "").strip()
        if name:
            # Rows arrive oldest first, so the last name written is the latest one seen.
            self.names[number] = name
        status = str(payload.get("status") or "").strip().lower()
        outcome = (
            "missed"
            if kind == EventKind.MISSED_CALL
            else ("voicemail" if status == VOICEMAIL_STATUS else "answered")
        )
        self.hours.setdefault(hour_key(occurred_at, tz), Counter())[outcome] += 1

    def freeze(self, extensionid: int) -> ExtensionStats:
        ranked = sorted(self.callers, key=lambda n: (-self.callers[n], -self.last_call[n], n))
        return ExtensionStats(
            extensionid=extensionid,
            calls=self.kinds[EventKind.CALL] + self.kinds[EventKind.MISSED_CALL],
            missed=self.kinds[EventKind.MISSED_CALL],
            voicemails=self.kinds[EventKind.VOICEMAIL],
            texts=self.kinds[EventKind.SMS],
            top_callers=tuple(
                TopCaller(n, self.names.get(n, ""), self.callers[n]) for n in ranked[:TOP_CALLERS]
            ),
            hourly={
                key: HourCounts(c["answered"], c["voicemail"], c["missed"])
                for key, c in self.hours.items()
            },
        )


class Stats:
    """Read-mostly queries for the nightly report; one short transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self._scopes = Scopes(engine)
        self._connection = self._scopes.connection
        self._writer = self._scopes.writer

    def activity(
        self,
        start: int,
        end: int,
        *,
        tz: tzinfo,
        extensionids: Collection[int] | None = None,
    ) -> dict[int, ExtensionStats]:
        """Per extension, the events that occurred in [start, end); hours are local to `tz`.

        Only the window's rows are read (the occurred_at index); every extension asked for
        gets an entry, zeros included. Hours are bucketed here, in Python, because SQL has no
        time zones that SQLite and PostgreSQL agree on.
        """
        query = select(
            col(EventRow.kind),
            col(EventRow.extensionid),
            col(EventRow.occurred_at),
            col(EventRow.payload),
        ).where(col(EventRow.occurred_at) >= start, col(EventRow.occurred_at) < end)
        if extensionids is not None:
            query = query.where(col(EventRow.extensionid).in_(list(extensionids)))
        query = query.order_by(col(EventRow.occurred_at), col(EventRow.id))
        tallies: dict[int, _Tally] = {eid: _Tally() for eid in extensionids or ()}
        with self._connection("read the report's events") as connection:
            for kind, extensionid, occurred_at, payload in connection.execute(query):
                tally = tallies.setdefault(extensionid, _Tally())
                tally.kinds[kind] += 1
                if kind in (EventKind.CALL, EventKind.MISSED_CALL):
                    tally.add_call(kind, occurred_at, _payload(payload), tz)
        return {eid: tally.freeze(eid) for eid, tally in sorted(tallies.items())}

    # Reports sent

    def last_report_date(self) -> date | None:
        """The latest date a report was recorded for (manual ones included)."""
        with self._connection("read the last report") as connection:
            day = connection.execute(select(func.max(col(ReportRow.day)))).scalar_one()
        return None if day is None else date.fromisoformat(day)

    def report_recorded(self, day: date) -> bool:
        query = select(col(ReportRow.id)).where(col(ReportRow.day) == day.isoformat())
        with self._connection("read a report") as connection:
            return connection.execute(query).first() is not None

    def record_report(self, day: date, *, sent_at: int, late: bool, summary_json: str) -> bool:
        """Record the report for `day`; False (and nothing written) if one already was.

        The UNIQUE day decides, inside the database, so two processes racing for the same
        date cannot both win.
        """
        values = {"day": day.isoformat(), "sent_at": sent_at, "late": late, "summary": summary_json}
        with store_errors("record a report"):
            try:
                with self._writer.begin() as connection:
                    connection.execute(insert(ReportRow).values(values))
            except IntegrityError:
                return False
        return True


def _payload(text: str) -> Mapping[str, Any]:
    """A corrupt payload still counts as an event; it just adds no caller or hour detail."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
