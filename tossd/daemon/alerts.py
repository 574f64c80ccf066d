"""tossd's own trouble, for routes with `events = ["tossd_error"]` (pure state machine).

Told once when a stream fails `after_failures` cycles in a row, when the API key is
rejected, or when notifications are given up; told again once things recover.

A key refusal is believed only when it is not contradicted: the extension list refused, or
every stream refused `KEY_CONFIRMATIONS` polls in a row while none worked. A refusal that
one stream's wording suggests (an `smsGet` error mentioning "key") while calls poll fine is
that stream failing, not a rejected key, and never flips the key alerts back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from tossd.daemon.trouble import Change, Trouble
from tossd.domain import DrainReport, Stream, StreamReport
from tossd.text.sanitize import provider_text
from tossd.text.untrusted import one_line

#: Consecutive refused polls of a stream before its refusal counts towards a rejected key.
KEY_CONFIRMATIONS: Final = 2


@dataclass(frozen=True)
class Alert:
    title: str
    body: str


@dataclass
class Alerter:
    after_failures: int
    _streaks: dict[Stream, int] = field(default_factory=dict)
    _alerted_streams: set[Stream] = field(default_factory=set)
    _key_alerted: bool = False
    #: Per stream: consecutive polls refused for the key (0: its last poll reached a number).
    _key_refusals: dict[Stream, int] = field(default_factory=dict)
    _dead_alerted: bool = False
    _unmatched: frozenset[str] = frozenset()

    def routes_unmatched(self, names: list[str]) -> list[Alert]:
        """Told once per route that starts matching no number (again only after it matched)."""
        new = sorted(set(names) - self._unmatched)
        self._unmatched = frozenset(names)
        return [
            Alert(
                f"tossd: route {one_line(name, 64)} matches no number",
                "Its `extensions` name no DID, extension id or alias of this account, so it "
                "can never fire. Check the spelling against `tossd events` or the provider.",
            )
            for name in new
        ]

    def key_rejected(self, error: str) -> list[Alert]:
        if self._key_alerted:
            return []
        self._key_alerted = True
        return [
            Alert(
                "tossd: the Tossable Digits API key was rejected",
                "Nothing can be polled until the key is fixed.\n"
                # The provider's words go to every target at once: the strictest cleaning
                # (one_line alone would drop the joiner that keeps `@everyone` inert).
                f"The API said: {provider_text(error, 200)}\n"
                "Check api.key (a sandbox key works only on the sandbox server).",
            )
        ]

    def after_poll(self, report: StreamReport) -> list[Alert]:
        stream = report.stream
        if report.key_rejected:
            self._key_refusals[stream] = self._key_refusals.get(stream, 0) + 1
            if self._key_alerted or self._key_confirmed():
                return self.key_rejected(f"the key was refused while polling {stream}")
            # Not (yet) believed: this stream is failing, counted like any failure.
            return self._streak(report, [])
        alerts = []
        if report.failed < report.extensions:
            self._key_refusals[stream] = 0
            alerts = self._key_recovered()
        return self._streak(report, alerts)

    def _key_confirmed(self) -> bool:
        """Every stream seen refused the key, lately and repeatedly, and none worked since."""
        counts = self._key_refusals.values()
        return bool(counts) and all(count >= KEY_CONFIRMATIONS for count in counts)

    def _streak(self, report: StreamReport, alerts: list[Alert]) -> list[Alert]:
        stream = report.stream
        if report.failed == 0:
            self._streaks[stream] = 0
            if stream in self._alerted_streams:
                self._alerted_streams.discard(stream)
                alerts.append(
                    Alert(f"tossd: polling {stream} works again", "Every number polled fine.")
                )
            return alerts
        self._streaks[stream] = self._streaks.get(stream, 0) + 1
        if self._streaks[stream] == self.after_failures:
            self._alerted_streams.add(stream)
            alerts.append(
                Alert(
                    f"tossd: polling {stream} is failing",
                    f"{self.after_failures} polls in a row failed for {report.failed} of "
                    f"{report.extensions} numbers. tossd keeps retrying; nothing is lost, "
                    "what happens meanwhile is announced once polling works again.\n"
                    "See the poll.failed lines of the log for the reasons.",
                )
            )
        return alerts

    def after_drain(self, report: DrainReport) -> list[Alert]:
        alerts = [
            Alert(
                f"tossd: {one_line(label, 80)} is not answering",
                "Notifications for it wait (nothing is given up meanwhile); tossd tries one "
                "now and then and sends the rest once it answers. Other targets are not slowed.",
            )
            for label in report.targets_down
        ]
        alerts += [
            Alert(
                f"tossd: {one_line(label, 80)} answers again", "Its waiting notifications go out."
            )
            for label in report.targets_up
        ]
        return alerts + self._dead_alerts(report)

    def _dead_alerts(self, report: DrainReport) -> list[Alert]:
        if report.dead:
            self._dead_alerted = True
            return [
                Alert(
                    f"tossd: {report.dead} notification(s) given up",
                    "A target kept refusing them. `tossd outbox --state dead` lists them; "
                    "`tossd outbox retry --all` sends them again once the target is fixed.",
                )
            ]
        if self._dead_alerted and report.sent and not report.failed:
            self._dead_alerted = False
            return [Alert("tossd: notifications are delivered again", "Targets accept again.")]
        return []

    def _key_recovered(self) -> list[Alert]:
        if not self._key_alerted:
            return []
        self._key_alerted = False
        return [Alert("tossd: the API key works again", "Polling has resumed.")]


@dataclass
class LocalAlerts:
    """tossd's own machine failing it: the database file, results it cannot write (each told
    once per change, see `tossd.daemon.trouble`)."""

    after_failures: int
    _file: Trouble = field(init=False)
    _unwritten: Trouble = field(init=False)

    def __post_init__(self) -> None:
        self._file = Trouble(self.after_failures)
        self._unwritten = Trouble(self.after_failures)

    def store_checked(self, trouble: str | None) -> list[Alert]:
        change = self._file.check(trouble)
        if change is Change.BEGAN:
            return [
                Alert(
                    "tossd: its database is in trouble",
                    f"{one_line(trouble, 300)}.\nWhat tossd records now may be lost, and a "
                    "restart may announce recent events again. Restore the file or its write "
                    "access, then restart tossd.",
                )
            ]
        if change is Change.ENDED:
            return [Alert("tossd: its database is fine again", "The database file is back.")]
        return []

    def results_checked(self, unrecorded: int) -> list[Alert]:
        change = self._unwritten.check("unwritten" if unrecorded else None)
        if change is Change.BEGAN:
            return [
                Alert(
                    "tossd: notifications are held: results cannot be written",
                    f"{unrecorded} notification(s) went out but tossd cannot write that down "
                    "(disk full? database read-only or locked?). It sends nothing more until "
                    "it can, so nothing is sent twice. See delivery.unrecorded in the log.",
                )
            ]
        if change is Change.ENDED:
            return [Alert("tossd: results are written again", "Held notifications go out.")]
        return []
