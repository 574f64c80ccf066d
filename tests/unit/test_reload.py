"""What a SIGHUP reload takes up, and what it says needs a restart (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from tossd.config.model import Config
from tossd.daemon.reload import needs_restart

BASE: dict[str, Any] = {"state_dir": "/tmp/tossd", "api": {"key": "k"}}


def config(**sections: Any) -> Config:
    return Config.model_validate(BASE | sections, context={"env": {}})


@pytest.mark.parametrize(
    ("changed", "restart"),
    [
        # Taken up at once.
        ({"poll": {"interval_s": 30.0, "sms_interval_s": 10.0}}, ()),
        ({"log": {"level": "debug"}}, ()),
        ({"delivery": {"interval_s": 1.0, "timezone": "UTC"}}, ()),
        ({"route": [{"events": ["sms"], "notify": ["json://h"]}]}, ()),
        ({"report": {"at": "08:00"}, "retention": {"audio_days": 5}}, ()),
        # Held by open resources: said to need a restart.
        ({"api": {"key": "k", "url": "http://127.0.0.1:9/apihttp.php"}}, ("api",)),
        ({"health": {"listen": "127.0.0.1:9187"}}, ("health",)),
        ({"poll": {"overlap_s": 60}}, ("poll.overlap_s",)),
        ({"delivery": {"max_attempts": 3}}, ("delivery.max_attempts",)),
    ],
)
def test_what_needs_a_restart(changed: dict[str, Any], restart: tuple[str, ...]) -> None:
    assert needs_restart(config(), config(**changed)) == restart
