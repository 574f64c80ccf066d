"""The nodes sharing a store, as `tossd health` and /healthz tell them: who polls (the leader,
its term, since when, its last poll) and each node's last heartbeat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tossd.store.ledger_stats import NodeFacts


def leader_of(nodes: Sequence[NodeFacts]) -> NodeFacts | None:
    return next((node for node in nodes if node.term is not None), None)


def cluster_lines(nodes: Sequence[NodeFacts], now: float) -> list[str]:
    """Nothing before any daemon ran; else the leader (or its absence) and every node."""
    if not nodes:
        return []
    leader = leader_of(nodes)
    if leader is None or leader.since is None:
        lines = ["leader: none (no node holds the poll duty)"]
    else:
        since = datetime.fromtimestamp(leader.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        polled = "never" if leader.polled_at is None else _ago(leader.polled_at, now)
        lines = [f"leader: {leader.node} (term {leader.term}, since {since}, last poll {polled})"]
    lines += [f"node {node.node}: heartbeat {_ago(node.heartbeat_at, now)}" for node in nodes]
    return lines


def cluster_json(nodes: Sequence[NodeFacts]) -> dict[str, Any]:
    leader = leader_of(nodes)
    return {
        "leader": None
        if leader is None
        else {
            "node": leader.node,
            "term": leader.term,
            "since": leader.since,
            "polled_at": leader.polled_at,
        },
        "nodes": [{"node": n.node, "heartbeat_at": n.heartbeat_at} for n in nodes],
    }


def _ago(at: int, now: float) -> str:
    return f"{max(0, round(now - at))} s ago"
