"""What the store adds to a report (deleted voicemails, texts), and which reports were sent."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from tossd.domain import EventKind
from tossd.store.engine import store_errors
from tossd.store.scope import Scopes
from tossd.store.tables import EventRow, ExtensionRow, ReportRow


@dataclass(frozen=True)
class StoredCounts:
    """What the store holds of one number in a window: voicemail ids, texts received."""

    vmids: frozenset[str] = frozenset()
    texts_in: int = 0


class Stats:
    """Read-mostly queries for the nightly report; one short transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self._scopes = Scopes(engine)
        self._connection = self._scopes.connection
        self._writer = self._scopes.writer

    def stored_counts(
        self, start: int, end: int, extensionids: Collection[int]
    ) -> dict[int, StoredCounts]:
        """Per extension, the voicemails (by vmid) and texts stored for [start, end): what a
        report needs from the store where the provider no longer keeps it (a deleted
        voicemail) or never listed it (an account whose texts cannot be listed)."""
        kinds = (EventKind.VOICEMAIL, EventKind.SMS)
        query = select(col(EventRow.kind), col(EventRow.extensionid), col(EventRow.payload)).where(
            col(EventRow.occurred_at) >= start,
            col(EventRow.occurred_at) < end,
            col(EventRow.kind).in_(kinds),
            col(EventRow.extensionid).in_(list(extensionids)),
        )
        vmids: dict[int, set[str]] = {eid: set() for eid in extensionids}
        texts: Counter[int] = Counter()
        with self._connection("read the report's stored events") as connection:
            for kind, extensionid, payload in connection.execute(query):
                if kind == EventKind.SMS:
                    texts[extensionid] += 1
                else:
                    vmids[extensionid].add(str(_payload(payload).get("vmid", "")))
        return {
            eid: StoredCounts(frozenset(vmids[eid] - {""}), texts[eid]) for eid in sorted(vmids)
        }

    # Reports sent

    def first_seen(self) -> int | None:
        """When tossd first listed the account's numbers: its first start, for reports (None
        before any start listed them)."""
        query = select(func.min(col(ExtensionRow.first_seen_at)))
        with self._connection("read the first start") as connection:
            first = connection.execute(query).scalar_one()
        return None if first is None else int(first)

    def last_report_date(self, name: str = "report", period: str = "day") -> date | None:
        """The first day of the latest period a report `name` of `period` was recorded for
        (manual ones included)."""
        query = select(func.max(col(ReportRow.day))).where(
            col(ReportRow.name) == name, col(ReportRow.period) == period
        )
        with self._connection("read the last report") as connection:
            day = connection.execute(query).scalar_one()
        return None if day is None else date.fromisoformat(day)

    def report_recorded(self, day: date, name: str = "report", period: str = "day") -> bool:
        query = select(col(ReportRow.id)).where(
            col(ReportRow.day) == day.isoformat(),
            col(ReportRow.name) == name,
            col(ReportRow.period) == period,
        )
        with self._connection("read a report") as connection:
            return connection.execute(query).first() is not None

    def record_report(
        self,
        day: date,
        *,
        sent_at: int,
        late: bool,
        summary_json: str,
        name: str = "report",
        period: str = "day",
    ) -> bool:
        """Record report `name`'s `period` beginning on `day`; False (and nothing written) if
        one already was.

        The UNIQUE (name, period, day) decides, inside the database, so two processes racing
        for the same period cannot both win.
        """
        values = {"day": day.isoformat(), "sent_at": sent_at, "late": late}
        values |= {"summary": summary_json, "name": name, "period": period}
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
