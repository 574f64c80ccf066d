"""Voicemail audio: download each announced voicemail's MP3 once, into the store's folder."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable

import structlog

from tossd.api.client import Client
from tossd.domain import StoredEvent
from tossd.errors import ApiError, StoreError, TossdError
from tossd.store.files import audio_filename, write_atomic
from tossd.store.store import Store

log = structlog.get_logger(__name__)


class AudioFetcher:
    """Fetches the clips of voicemails that have none yet, giving up after `attempts`."""

    def __init__(
        self, api: Client, store: Store, attempts: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._api = api
        self._store = store
        self._attempts = attempts
        self._clock = clock
        # The voicemail poll and a due box's check both fetch: one at a time, or both would
        # download the same clip and the second save would fail on the unique constraint.
        self._one_at_a_time = asyncio.Lock()

    async def fetch(self) -> int:
        """Download the MP3 of every announced voicemail that has none yet; returns how many."""
        async with self._one_at_a_time:
            pending = self._store.voicemails_missing_audio(max_attempts=self._attempts)
            results = await asyncio.gather(*(self._fetch_one(event) for event in pending))
        return sum(results)

    async def _fetch_one(self, event: StoredEvent) -> int:
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
                now=int(self._clock()),
            )
        except StoreError as exc:
            # Our disk, not the provider: not a failed download, so no attempt is used up;
            # the next poll tries again once there is space.
            log.error("audio.write_failed", event_id=event.id, clipid=clipid, error=exc.message)
            return 0
        except (TossdError, ValueError) as exc:
            message = exc.message if isinstance(exc, TossdError) else str(exc)
            attempts = self._store.record_audio_failure(event.id, message, int(self._clock()))
            log.warning(
                "audio.failed",
                event_id=event.id,
                clipid=clipid,
                error=message,
                attempts=attempts,
                gives_up=attempts >= self._attempts,
            )
            return 0
        return 1
