"""`tossd sandbox` and `tossd demo`: the built-in imitation of the API, alone or with tossd."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_sandbox(args: argparse.Namespace) -> int:
    import asyncio

    from tossd.cli.log import configure_logging
    from tossd.sandbox.quirks import Quirks
    from tossd.sandbox.runner import SandboxOptions, run_sandbox
    from tossd.sandbox.server import Faults

    configure_logging("info", "auto", secrets=[args.api_key])
    faults = Faults(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        http_500_rate=args.http_500_rate,
        hang_rate=args.hang_rate,
        malformed_rate=args.malformed_rate,
        numbers_as_strings=args.numbers_as_strings,
        seed=args.seed,
    )
    options = SandboxOptions(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        seed=args.seed,
        activity_every=args.activity_every,
        extensions=args.extensions,
        faults=faults,
        quirks=Quirks(
            account_wide_calls=not args.per_number_only,
            account_wide_sms=not args.per_number_only,
            sms_enabled=not args.no_sms,
            call_lag_s=args.call_lag_s,
            voicemail_lag_s=args.voicemail_lag_s,
        ),
        rate_limit=args.rate_limit,
    )
    asyncio.run(run_sandbox(options))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio
    import os

    from tossd.cli.demo import run_demo
    from tossd.cli.log import configure_logging
    from tossd.config.load import find_config_path, load_config

    configure_logging("warning", "console")
    # Only `[transcribe]` is taken from the config (or $TOSSD_TRANSCRIBE__ENGINE=local). The
    # demo needs no config: a $TOSSD_CONFIG naming no file (the image sets it for `run`) is
    # none, where `run` would refuse it.
    env = dict(os.environ)
    if env.get("TOSSD_CONFIG") and not Path(env["TOSSD_CONFIG"]).is_file():
        del env["TOSSD_CONFIG"]
    path = find_config_path(getattr(args, "config", None), env)
    transcribe = load_config(path, env).transcribe
    asyncio.run(run_demo(Path(args.dir), duration_s=args.duration, transcribe=transcribe))
    return 0
