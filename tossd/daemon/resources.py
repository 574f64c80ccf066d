"""Building tossd's parts from the config: client, store, routes, deliverer; one-shot runs."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from tossd import __version__
from tossd.api.client import Client
from tossd.api.transport import RequestHook
from tossd.config.model import Config
from tossd.daemon.leader import node_name, withhold_polls
from tossd.domain import Clock
from tossd.notify.deliver import Deliverer
from tossd.notify.replan import reconcile
from tossd.notify.routing import Route
from tossd.poll.poller import Poller
from tossd.report.reporter import Reporter, Reporters
from tossd.store.store import Store
from tossd.text.phone import use_places


def open_client(config: Config, *, on_request: RequestHook | None = None) -> Client:
    """The daemon's client, its User-Agent naming this node (which node polls, in the
    provider's log and the sandbox's)."""
    agent = f"tossd/{__version__} node/{node_name(config)}"
    key = config.api.require_key()
    return Client.connect(config.api, key, on_request=on_request, user_agent=agent)


def open_poller(config: Config, api: Client, store: Store, *, clock: Clock = time.time) -> Poller:
    """The poller, pacing its per-number turns at the client's request budget; its requests
    withheld while another node leads (a store shared by several daemons)."""
    withhold_polls(api, store)
    budget = config.api.max_requests_per_s
    return Poller(api, store, config.poll, clock=clock, budget_per_s=budget)


def use_place_index(config: Config, env: Mapping[str, str] | None = None) -> bool:
    """Build (once) and open the caller-place index: in systemd's CacheDirectory= when the
    unit has one (a derived file, rebuilt when lost), else in `state_dir`."""
    env = os.environ if env is None else env
    cache = env.get("CACHE_DIRECTORY", "").split(":")[0]
    return use_places(Path(cache) if cache else config.state_dir)


def open_deliverer(
    config: Config, store: Store, routes: list[Route], *, clock: Clock = time.time
) -> Deliverer:
    # Notifications name the caller's place: the index is opened (built once) here.
    use_place_index(config)
    # With an engine on, a voicemail's notification waits a little for its transcript.
    wait_s = config.transcribe.wait_s if config.transcribe.enabled else None
    deliverer = Deliverer(
        store, store.ledger(), routes, config.delivery, clock=clock, transcript_wait_s=wait_s
    )
    # Before any send: rows follow their targets' identities, and rows of a route or
    # target that left the config are orphaned (and said so, once) rather than sent.
    reconcile(store.ledger(), routes, deliverer.owner, int(clock()))
    return deliverer


def take_routes(store: Store, deliverer: Deliverer, routes: list[Route], *, now: int) -> None:
    """The routes of a reloaded config: rows follow them as at start (`open_deliverer`)."""
    deliverer.use_routes(routes)
    reconcile(store.ledger(), routes, deliverer.owner, now)


def open_reporter(api: Client, store: Store, config: Config, routes: list[Route]) -> Reporters:
    """Every configured report, each to its `notify` and the routes taking "report"."""
    out = config.state_dir / "reports"
    return Reporters(
        tuple(Reporter.of(api, store.stats(), report, routes, out) for report in config.reports)
    )
