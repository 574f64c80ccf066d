"""The use cases: sync extensions, poll calls / voicemail / texts, fetch voicemail audio.

Calls and texts are asked for account-wide, one paged query per cycle, falling back to one
query per number when the provider refuses that (re-probed hourly). Voicemail boxes are
checked when a new call may have reached them, plus a sweep that visits each box once per
`voicemail_sweep_s`. Every fetch is one store transaction: the new events, their due marks
and the watermark commit together, so a crash between fetch and commit loses nothing (the
next poll fetches the same window again) and repeats nothing (identities are unique).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import structlog

from tossd.api.budget import RequestBudget
from tossd.api.client import Client
from tossd.config.model import PollConfig
from tossd.domain import ACCOUNT, KnownExtension, Stream, StreamReport
from tossd.errors import ApiKeyRejected, ApiMissingParameter, ApiUnsupported, TossdError
from tossd.poll import plan
from tossd.poll.audio import AudioFetcher
from tossd.poll.cycle import (
    Outcome,
    add_outcomes,
    finish,
    say_implausible,
    say_reach,
    say_stretched,
)
from tossd.poll.fetch import fetch_account, fetch_number
from tossd.poll.plan import Reach, StreamReach
from tossd.poll.translate import listed_extension
from tossd.poll.window import next_watermark, poll_window
from tossd.store.records import ExtensionSync
from tossd.store.store import Store

log = structlog.get_logger(__name__)


class Poller:
    """Moves data from the API into the store; one instance per daemon.

    `budget_per_s` is the client's `max_requests_per_s`: per-number turns and the sweep take
    at most a share of it per cycle, so a big account stretches its rounds instead of
    queueing requests behind the budget forever.
    """

    def __init__(
        self,
        api: Client,
        store: Store,
        config: PollConfig,
        *,
        clock: Callable[[], float] = time.time,
        budget_per_s: float | None = None,
    ) -> None:
        self._api = api
        self._store = store
        self._config = config
        self._clock = clock
        self._budget_per_s = budget_per_s
        self._reach = {Stream.CALLS: StreamReach(), Stream.SMS: StreamReach()}
        # Per-number turns and the sweep are paced at their share of the budget, so the
        # account-wide queries and the boxes a call made due never queue behind a round.
        self._pace = {
            share: RequestBudget(budget_per_s * share) if budget_per_s else None
            for share in (plan.PER_NUMBER_SHARE, plan.SWEEP_SHARE)
        }
        self._stretched: set[Stream] = set()
        self._checking: set[int] = set()  # voicemail boxes being checked now
        self._audio = AudioFetcher(api, store, config.audio_attempts, clock)

    def _now(self) -> int:
        return int(self._clock())

    async def sync_extensions(self) -> ExtensionSync:
        """Mirror `extensionList`: new numbers are picked up, ended ones stop being polled."""
        extensions = await self._api.extension_list()
        listed = [listed_extension(extension) for extension in extensions]
        change = self._store.sync_extensions(listed, self._now())
        # The hourly sync of an unchanged account is routine: said at debug, not info.
        changed = bool(change.added or change.ended)
        (log.info if changed else log.debug)(
            "extensions.synced",
            total=len(extensions),
            active=len(self._store.active_extensions()),
            # A first sync of a big account adds hundreds: log counts and a few ids.
            added=len(change.added),
            ended=len(change.ended),
            ids=(change.added + change.ended)[:10],
        )
        return change

    async def poll_stream(self, stream: Stream) -> StreamReport:
        """One cycle of `stream`: account-wide (or per number), or the voicemail boxes due
        plus this cycle's share of the sweep."""
        if stream is Stream.VOICEMAIL:
            return await self.poll_voicemail(sweep=True)
        started = time.perf_counter()
        report = StreamReport(stream)
        extensions = self._store.active_extensions()
        report.extensions = len(extensions)
        reach = self._reach[stream]
        before, now = reach.reach, self._now()
        if not reach.off(now):
            if reach.tries_account(now):
                await self._poll_account(stream, extensions, report)
            if reach.reach is Reach.PER_NUMBER:
                await self._poll_per_number(stream, extensions, report)
        if reach.reach is Reach.OFF:
            # Nothing to poll on this account (no SMS): the stream is on time, not failing.
            state = self._store.poll_state(ACCOUNT, stream)
            watermark = None if state is None else state.watermark
            self._store.record_batch(ACCOUNT, stream, [], watermark, now)
        if reach.reach is not before:
            say_reach(report, reach)
        return finish(report, started)

    async def poll_voicemail(self, *, sweep: bool = True) -> StreamReport:
        """Check the boxes a new call made due; with `sweep`, also this cycle's share of the
        sweep (or, when calls are not polled, every box: nothing else would drive them).

        A box already being checked (by a paced sweep still under way) is not asked twice;
        nothing waits for a sweep to end, so a box a call made due is checked at once.
        """
        started = time.perf_counter()
        report = StreamReport(Stream.VOICEMAIL)
        extensions = {e.extensionid: e for e in self._store.active_extensions()}
        schedule = self._store.schedule()
        due = [i for i in schedule.due_boxes() if i in extensions]
        swept: list[int] = []
        if sweep and Stream.CALLS not in self._config.streams:
            swept = [i for i in extensions if i not in due]
        elif sweep:
            count = plan.sweep_size(
                len(extensions),
                self._config.interval_for(Stream.VOICEMAIL),
                self._config.voicemail_sweep_s,
                self._turns(plan.SWEEP_SHARE),
            )
            swept = schedule.least_recent(Stream.VOICEMAIL, count, skip=due)
            report.round_s = plan.stretched_s(
                len(extensions), count, self._config.interval_for(Stream.VOICEMAIL)
            )
        due_boxes = [extensions[i] for i in due if i not in self._checking]
        swept_boxes = [extensions[i] for i in swept if i in extensions and i not in self._checking]
        report.extensions = len(due_boxes) + len(swept_boxes)
        checking = {e.extensionid for e in (*due_boxes, *swept_boxes)}
        self._checking |= checking
        try:
            outcomes = await asyncio.gather(
                # A box a call made due goes at once; the sweep at its share of the budget.
                self._gather(Stream.VOICEMAIL, due_boxes),
                self._gather(Stream.VOICEMAIL, swept_boxes, self._pace[plan.SWEEP_SHARE]),
            )
        finally:
            self._checking -= checking
        add_outcomes(report, [o for part in outcomes for o in part])
        if sweep and not report.failed:
            # The stream as a whole is on time (health): boxes not visited are not late.
            self._store.record_batch(ACCOUNT, Stream.VOICEMAIL, [], None, self._now())
        return finish(report, started)

    async def fetch_audio(self) -> int:
        """Download the MP3 of every announced voicemail that has none yet; returns how many."""
        return await self._audio.fetch()

    async def poll_all(self) -> list[StreamReport]:
        """One full cycle: extensions, calls and texts together, the voicemail boxes those
        calls made due (and the sweep's share), then audio."""
        await self.sync_extensions()
        streams = [Stream(name) for name in self._config.streams]
        first = [s for s in streams if s is not Stream.VOICEMAIL]
        reports = {r.stream: r for r in await asyncio.gather(*map(self.poll_stream, first))}
        if Stream.VOICEMAIL in streams:
            reports[Stream.VOICEMAIL] = await self.poll_voicemail(sweep=True)
        await self.fetch_audio()
        return [reports[s] for s in streams]

    # -- account-wide ---------------------------------------------------------------------

    async def _poll_account(
        self, stream: Stream, extensions: Sequence[KnownExtension], report: StreamReport
    ) -> None:
        now = self._now()
        state = self._store.poll_state(ACCOUNT, stream) or self._store.schedule().floor(stream)
        window = poll_window(state, now, self._config)
        reach = self._reach[stream]
        try:
            known = self._store.all_extensions()
            opened = {e.extensionid: e.startdate for e in known}
            events = await fetch_account(self._api, stream, window, known)
            previous = state.watermark if state else None
            watermark = next_watermark(previous, events, now=now, opened=opened)
            due = plan.boxes_due(events, now) if stream is Stream.CALLS else []
            result = self._store.record_batch(ACCOUNT, stream, events, watermark, now, due=due)
            say_implausible(stream, result, now, opened)
        except ApiMissingParameter as exc:
            reach.become(Reach.PER_NUMBER, now)
            report.reach_error = exc.message
            return
        except ApiUnsupported as exc:
            reach.become(Reach.OFF, now)
            report.reach_error = exc.message
            return
        except TossdError as exc:
            self._failed(stream, ACCOUNT, exc, now)
            report.failed = report.extensions
            report.key_rejected |= isinstance(exc, ApiKeyRejected)
            return
        reach.become(Reach.ACCOUNT, now)
        report.round_s = self._config.interval_for(stream)
        add_outcomes(report, [(result, None)])
        new_ids = {e.identity for e in result.new}
        report.due = len({d.extensionid for d in due if d.identity in new_ids})

    # -- per number -----------------------------------------------------------------------

    async def _poll_per_number(
        self, stream: Stream, extensions: Sequence[KnownExtension], report: StreamReport
    ) -> None:
        """One query per number, as many as this cycle's share of the budget allows, the
        numbers polled longest ago first; a whole round then takes several cycles."""
        limit = self._turns(plan.PER_NUMBER_SHARE)
        picks = list(extensions)
        report.round_s = self._config.interval_for(stream)
        if limit is not None and limit < len(extensions):
            report.round_s = plan.stretched_s(len(extensions), limit, report.round_s)
            by_id = {e.extensionid: e for e in extensions}
            turn = self._store.schedule().least_recent(stream, limit)
            picks = [by_id[i] for i in turn if i in by_id]
            if stream not in self._stretched:  # one warning per stream
                self._stretched.add(stream)
                say_stretched(stream, len(extensions), limit, report.round_s)
        outcomes = await self._gather(stream, picks, self._pace[plan.PER_NUMBER_SHARE])
        if any(isinstance(error, ApiUnsupported) for _, error in outcomes):
            self._reach[stream].become(Reach.OFF, self._now())
            report.reach_error = next(e.message for _, e in outcomes if e is not None)
            return
        add_outcomes(report, outcomes)

    async def _gather(
        self,
        stream: Stream,
        extensions: Sequence[KnownExtension],
        pace: RequestBudget | None = None,
    ) -> list[Outcome]:
        polls = (self._poll_one(stream, ext, pace) for ext in extensions)
        return list(await asyncio.gather(*polls))

    async def _poll_one(
        self, stream: Stream, ext: KnownExtension, pace: RequestBudget | None = None
    ) -> Outcome:
        if pace is not None:
            await pace.acquire()
        now = self._now()
        try:
            state = self._store.poll_state(ext.extensionid, stream)
            if state is None and stream is not Stream.VOICEMAIL:
                # Taking over from account-wide polling: start where it had got to.
                state = self._store.poll_state(ACCOUNT, stream)
            window = poll_window(state, now, self._config, opened=ext.startdate)
            events = await fetch_number(self._api, stream, ext, window)
            opened = {ext.extensionid: ext.startdate}
            previous = state.watermark if state else None
            watermark = next_watermark(previous, events, now=now, opened=opened)
            result = self._store.record_batch(ext.extensionid, stream, events, watermark, now)
            say_implausible(stream, result, now, opened)
        except TossdError as exc:
            if not isinstance(exc, ApiUnsupported):
                self._failed(stream, ext.extensionid, exc, now)
            return None, exc
        return result, None

    # -- bookkeeping ----------------------------------------------------------------------

    def _turns(self, share: float) -> int | None:
        return plan.turns(self._budget_per_s, self._config.interval_s, share)

    def _failed(self, stream: Stream, extensionid: int, exc: TossdError, now: int) -> None:
        try:
            failures = self._store.record_failure(extensionid, stream, exc.message, now)
        except TossdError as store_exc:
            failures = -1
            log.error("poll.record_failed", stream=stream.value, error=store_exc.message)
        log.warning(
            "poll.failed",
            stream=stream.value,
            extensionid=extensionid if extensionid != ACCOUNT else "account",
            error=exc.message,
            error_type=type(exc).__name__,
            consecutive_failures=failures,
            excerpt=getattr(exc, "excerpt", None),  # a wrong reply's look, bounded
        )
