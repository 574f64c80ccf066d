"""Requests/s through the client against `tossd sandbox` (a subprocess), beside the ideal.

Run by hand: `.venv/bin/python bench/client.py [--requests N]`. The ideal is
concurrency / latency; at 0 ms latency there is no ideal and the figure is the CPU ceiling
of client + sandbox on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time

import httpx

from tossd.api.client import Client
from tossd.api.options import ApiOptions

KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tossd",
            "sandbox",
            "--port",
            str(port),
            "--api-key",
            KEY,
            "--latency-ms",
            str(latency_ms),
            "--activity-every",
            "3600",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/apihttp.php"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(url, data={"method": "numberGetCountries", "apikey": KEY}, timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("sandbox did not start")


async def measure(url: str, concurrency: int, requests: int) -> float:
    options = ApiOptions(url=url, max_concurrency=concurrency, max_requests_per_s=1e9)
    client = Client.connect(options, KEY)
    async with client:
        await client.number_get_countries()  # warm the connection pool
        started = time.perf_counter()
        await asyncio.gather(*(client.extension_list() for _ in range(requests)))
        return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    print(f"{'latency':>8} {'conc':>5} {'req/s':>9} {'ideal':>9} {'share':>6}")
    for latency_ms in (0.0, 50.0):
        proc, url = start_sandbox(latency_ms)
        try:
            for concurrency in (1, 8, 32):
                count = args.requests if latency_ms == 0 else min(args.requests, concurrency * 20)
                rate = asyncio.run(measure(url, concurrency, count))
                ideal = concurrency / (latency_ms / 1000) if latency_ms else None
                share = f"{rate / ideal:6.0%}" if ideal else "     -"
                ideal_text = f"{ideal:9.1f}" if ideal else "        -"
                print(f"{latency_ms:6.0f}ms {concurrency:5d} {rate:9.1f} {ideal_text} {share}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
