"""Which node's requests reach the sandbox, and when: the high-availability tests read it to
check that at most one node polls at any moment."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: The node as tossd's User-Agent names it (`tossd/0.1.0 node/a`).
_NODE = re.compile(r"\bnode/([A-Za-z0-9._:-]{1,64})")
#: Kept at most: a long soak must not grow the sandbox without bound.
MAX_ARRIVALS = 200_000


@dataclass(frozen=True)
class Arrival:
    at: float
    method: str
    node: str


@dataclass
class Arrivals:
    """Every request's time, method and node ("" for a client that names none)."""

    clock: Callable[[], float] = time.monotonic
    log: list[Arrival] = field(default_factory=list)

    def note(self, method: str, user_agent: str) -> None:
        if len(self.log) >= MAX_ARRIVALS:
            del self.log[: MAX_ARRIVALS // 2]
        found = _NODE.search(user_agent)
        self.log.append(Arrival(self.clock(), method, found.group(1) if found else ""))

    def nodes(self, since: float = float("-inf")) -> set[str]:
        return {arrival.node for arrival in self.log if arrival.at >= since}
