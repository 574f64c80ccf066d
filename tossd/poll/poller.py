"""The use cases: sync extensions, poll calls / voicemail / texts, fetch voicemail audio.

Each (extension, stream) poll is one fetch and one store transaction: the new events and
the stream's watermark commit together, so a crash between fetch and commit loses nothing
(the next poll fetches the same window again) and repeats nothing (identities are unique).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

import structlog

from tossd.api.client import Client
from tossd.config.model import PollConfig
from tossd.domain import KnownExtension, NewEvent, StoredEvent, Stream, StreamReport
from tossd.errors import ApiError, ApiKeyRejected, StoreError, TossdError
from tossd.poll.translate import call_events, listed_extension, sms_events, voicemail_events
from tossd.poll.window import Window, next_watermark, poll_window
from tossd.store.files import audio_filename, write_atomic
from tossd.store.records import ExtensionSync
from tossd.store.store import Store

log = structlog.get_logger(__name__)


class Poller:
    """Moves data from the API into the store; one instance per daemon."""

    def __init__(
        self,
        api: Client,
        store: Store,
        config: PollConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._store = store
        self._config = config
        self._clock = clock

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
        """Poll `stream` for every active extension; one failing never blocks the others."""
        started = time.perf_counter()
        report = StreamReport(stream)
        extensions = self._store.active_extensions()
        report.extensions = len(extensions)
        results = await asyncio.gather(*(self._poll_one(stream, ext) for ext in extensions))
        for new, seen, error in results:
            report.new += len(new)
            report.seen += seen
            report.announced += sum(1 for e in new if e.announce)
            report.new_events.extend(new)
            if error is not None:
                report.failed += 1
                report.key_rejected |= isinstance(error, ApiKeyRejected)
        report.duration_s = time.perf_counter() - started
        # An idle cycle is debug: at info a quiet daemon writes only the hourly heartbeat.
        (log.info if report.new or report.failed else log.debug)(
            "poll.cycle",
            stream=stream.value,
            extensions=report.extensions,
            failed=report.failed,
            new=report.new,
            announced=report.announced,
            seen=report.seen,
            duration_s=round(report.duration_s, 3),
        )
        return report

    async def _poll_one(
        self, stream: Stream, ext: KnownExtension
    ) -> tuple[list[StoredEvent], int, TossdError | None]:
        now = self._now()
        try:
            state = self._store.poll_state(ext.extensionid, stream)
            window = poll_window(state, ext, now, self._config)
            events = await self._fetch(stream, ext, window)
            watermark = next_watermark(state.watermark if state else None, events)
            result = self._store.record_batch(ext.extensionid, stream, events, watermark, now)
        except TossdError as exc:
            failures = self._store.record_failure(ext.extensionid, stream, exc.message, now)
            log.warning(
                "poll.failed",
                stream=stream.value,
                extensionid=ext.extensionid,
                error=exc.message,
                error_type=type(exc).__name__,
                consecutive_failures=failures,
            )
            return [], 0, exc
        return result.new, result.seen, None

    async def _fetch(self, stream: Stream, ext: KnownExtension, window: Window) -> list[NewEvent]:
        since = window.announce_since
        if stream is Stream.CALLS:
            records = await self._api.call_records(
                startdate=window.start, enddate=window.end, extensionid=ext.extensionid
            )
            # The provider may ignore the filter (its parameter list is damaged): keep ours.
            mine = [r for r in records if r.extensionid in (ext.extensionid, 0)]
            return call_events(
                [r.model_copy(update={"extensionid": ext.extensionid}) for r in mine],
                announce_since=since,
            )
        if stream is Stream.VOICEMAIL:
            voicemails = await self._api.extension_voicemail_get(extensionid=ext.extensionid)
            return voicemail_events(ext.extensionid, voicemails, announce_since=since)
        texts = await self._api.sms_get(
            did=ext.did, startdate=window.start, enddate=window.end, direction="in"
        )
        return sms_events(ext.extensionid, texts, announce_since=since)

    async def fetch_audio(self) -> int:
        """Download the MP3 of every announced voicemail that has none yet; returns how many."""
        pending = self._store.voicemails_missing_audio(max_attempts=self._config.audio_attempts)
        results = await asyncio.gather(*(self._fetch_one_audio(event) for event in pending))
        return sum(results)

    async def _fetch_one_audio(self, event: StoredEvent) -> int:
        clipid = str(event.payload.get("clipid", ""))
        try:
            clip = await self._api.audioclip_get(clipid=clipid)
            data = clip.audio()
            if len(data) != clip.filesize:
                raise ApiError(f"clip {clipid}: {len(data)} bytes, filesize says {clip.filesize}")
            filename = audio_filename(event.id)
            write_atomic(self._store.audio_dir / filename, data)
            self._store.record_audio(
                event.id,
                clipid=clipid,
                filename=filename,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                now=self._now(),
            )
        except StoreError as exc:
            # Our disk, not the provider: not a failed download, so no attempt is used up;
            # the next poll tries again once there is space.
            log.error("audio.write_failed", event_id=event.id, clipid=clipid, error=exc.message)
            return 0
        except (TossdError, ValueError) as exc:
            message = exc.message if isinstance(exc, TossdError) else str(exc)
            attempts = self._store.record_audio_failure(event.id, message, self._now())
            log.warning(
                "audio.failed",
                event_id=event.id,
                clipid=clipid,
                error=message,
                attempts=attempts,
                gives_up=attempts >= self._config.audio_attempts,
            )
            return 0
        return 1

    async def poll_all(self) -> list[StreamReport]:
        """One full cycle: extensions, then every configured stream at once, then audio.

        The streams share the client's concurrency limit, so running them together keeps it
        full: no stream waits for the slowest request of the one before.
        """
        await self.sync_extensions()
        streams = [Stream(name) for name in self._config.streams]
        reports = list(await asyncio.gather(*(self.poll_stream(s) for s in streams)))
        await self.fetch_audio()
        return reports
