"""The HTTP edge of the client: one POST per call, shared limits, retries, error translation.

This is the only module that imports httpx. Everything above it sees `tossd.errors` only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from tossd.api.bounded import ACCEPT_ENCODING, BodyTooBig, BoundedBody, UnknownEncoding
from tossd.api.budget import RequestBudget, Sleep
from tossd.api.envelope import MAX_REPLY_BYTES, Format, decode_envelope
from tossd.api.options import ApiOptions
from tossd.api.refusals import refusal
from tossd.errors import (
    ApiCallWithheld,
    ApiConnectError,
    ApiError,
    ApiHttpError,
    ApiMalformedReply,
    ApiRateLimited,
    ApiServerError,
    ApiTimeout,
    ApiUnavailable,
)
from tossd.text.masking import MASK, api_url_secrets, mask_api_url

log = structlog.get_logger(__name__)

#: Called after each request with the method and the error class name (None on success).
RequestHook = Callable[[str, str | None], None]


class Transport:
    """POSTs one method call and returns the envelope's `data`, or raises a `tossd.errors` error.

    Transient failures (transport errors, timeouts, HTTP 5xx) are retried `retries` times with
    backoff; `status:false` and malformed bodies are not (the caller retries on its next poll).
    Each attempt has `timeout_s` in all, from connecting to the reply's last byte, and reads
    at most `max_reply_bytes`: a dripping or endless reply costs neither time nor memory
    beyond those. Credentials in the URL never reach a message (`mask_api_url`).
    """

    def __init__(
        self,
        options: ApiOptions,
        key: str,
        *,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        on_request: RequestHook | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        user_agent: str | None = None,
    ) -> None:
        self.url = options.url
        #: The URL as messages show it: any user info or token in it masked.
        self.shown_url = mask_api_url(options.url, query=False)
        self._secrets = tuple(s for s in (key, *api_url_secrets(options.url)) if s)
        self._timeout_s = options.timeout_s
        self._max_reply_bytes = max_reply_bytes
        self._on_request = on_request
        #: Whether a method may be called now (None: always); see `Client.withhold_unless`.
        self.gate: Callable[[str], bool] | None = None
        self._key = key
        self.fmt: Format = options.format
        self._retry = options.retry_policy
        self._sleep = sleep
        self._rand = rand
        self._slots = asyncio.Semaphore(options.max_concurrency)
        self._budget = RequestBudget(options.max_requests_per_s, sleep=sleep)
        # Names the node (`tossd/0.1.0 node/a`): which daemon polls shows in the provider's log.
        headers = {"User-Agent": user_agent} if user_agent else None
        self._pools = [
            _Pool(
                httpx.AsyncClient(
                    timeout=options.timeout_s,
                    limits=limits,
                    follow_redirects=False,
                    headers=headers,
                )
            )
            for limits in _pool_limits(options.max_concurrency)
        ]

    def __repr__(self) -> str:
        return f"Transport(url={self.shown_url!r}, fmt={self.fmt!r})"

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.http.aclose()

    async def call(self, method: str, params: Mapping[str, object]) -> Any:
        """Call `method` with `params` (None values omitted) and return its `data`."""
        form = {"method": method, "apikey": self._key, "format": self.fmt}
        form.update({k: _form_value(v) for k, v in params.items() if v is not None})
        failures = 0
        while True:
            try:
                return await self._attempt(method, form)
            except ApiUnavailable as exc:
                failures += 1
                if self._retry.gives_up(failures):
                    raise
                delay = self._retry.delay(failures, self._rand())
                log.warning(
                    "api.retry",
                    method=method,
                    attempt=failures,
                    error=exc.message,
                    delay_s=round(delay, 3),
                )
                await self._sleep(delay)

    async def _attempt(self, method: str, form: Mapping[str, str]) -> Any:
        """One request; every attempt (retries included) is reported to `on_request`."""
        try:
            data = await self._request(method, form)
        except ApiError as exc:
            if self._on_request is not None:
                self._on_request(method, type(exc).__name__)
            raise
        if self._on_request is not None:
            self._on_request(method, None)
        return data

    async def _request(self, method: str, form: Mapping[str, str]) -> Any:
        async with self._slots:
            await self._budget.acquire()
            # Checked last, right before the request leaves: a node that stopped leading
            # while this call waited for a slot sends nothing more.
            if self.gate is not None and not self.gate(method):
                raise ApiCallWithheld(f"{method}: not sent, this node no longer polls")
            body = await self._post(method, form)
        envelope = decode_envelope(body, self.fmt)
        if not envelope.status:
            detail = "; ".join(envelope.msgs) or "status false without a message"
            raise refusal(method, envelope.msgs, self._redact(detail))
        return envelope.data

    async def _post(self, method: str, form: Mapping[str, str]) -> bytes:
        pool = min(self._pools, key=lambda p: p.in_flight)
        pool.in_flight += 1
        try:
            # One deadline for the whole attempt: httpx's timeouts are per read, so a reply
            # dripped a byte a second would never end on them.
            async with asyncio.timeout(self._timeout_s):
                status, body = await self._read(pool.http, method, form)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ApiTimeout(
                f"{method}: no complete answer from {self.shown_url} "
                f"within timeout_s={self._timeout_s:g}"
            ) from exc
        except httpx.HTTPError as exc:
            reason = self._redact(str(exc) or type(exc).__name__)
            raise ApiConnectError(f"{method}: {self.shown_url}: {reason}") from exc
        finally:
            pool.in_flight -= 1
        if status >= 500:
            raise ApiServerError(
                f"{method}: HTTP {status} from {self.shown_url}", status_code=status
            )
        if status == 429:
            raise ApiRateLimited(f"{method}: HTTP 429 from {self.shown_url}")
        if status != 200:
            raise ApiHttpError(f"{method}: HTTP {status} from {self.shown_url}", status_code=status)
        return body

    async def _read(
        self, http: httpx.AsyncClient, method: str, form: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """The status and, for a 200, the body, streamed and cut off at the cap: memory stays
        bounded by the cap whatever the server sends (audio arrives inside the JSON too)."""
        cap = self._max_reply_bytes
        headers = {"Accept-Encoding": ACCEPT_ENCODING}
        async with http.stream("POST", self.url, data=dict(form), headers=headers) as response:
            if response.status_code != 200:
                return response.status_code, b""
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise self._too_big(method, f"announced {declared} bytes")
            try:
                body = BoundedBody(response.headers.get("content-encoding", ""), cap)
                async for raw in response.aiter_raw():
                    body.feed(raw)
            except BodyTooBig as exc:
                raise self._too_big(method, str(exc)) from None
            except UnknownEncoding as exc:
                raise ApiMalformedReply(f"{method}: unreadable reply encoding: {exc}") from None
            return 200, body.take()

    def _too_big(self, method: str, what: str) -> ApiMalformedReply:
        return ApiMalformedReply(
            f"{method}: the reply was {what}, over the {self._max_reply_bytes}-byte cap; "
            "download stopped"
        )

    def _redact(self, text: str) -> str:
        text = text.replace(self.url, self.shown_url)
        for secret in self._secrets:
            text = text.replace(secret, MASK if secret != self._key else "***")
        return text


#: httpcore's pool costs O(connections x waiting requests) per state change, which makes
#: one big pool CPU-bound at 32 connections (bench/client.py). Several small pools don't.
POOL_SIZE = 8


@dataclass
class _Pool:
    http: httpx.AsyncClient
    in_flight: int = 0


def _pool_limits(max_concurrency: int) -> list[httpx.Limits]:
    sizes = [POOL_SIZE] * (max_concurrency // POOL_SIZE)
    if max_concurrency % POOL_SIZE:
        sizes.append(max_concurrency % POOL_SIZE)
    return [httpx.Limits(max_connections=n, max_keepalive_connections=n) for n in sizes]


def _form_value(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


__all__ = ["ApiError", "RequestBudget", "Transport"]
