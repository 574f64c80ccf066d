"""tossd's own alerts (tossd.daemon.alerts): sequences of reports and what each step says."""

from __future__ import annotations

import pytest

from tossd.daemon.alerts import Alerter, LocalAlerts
from tossd.domain import DrainReport, Stream, StreamReport

Step = StreamReport | DrainReport

CALLS_FAILING = "tossd: polling calls is failing"
CALLS_BACK = "tossd: polling calls works again"
SMS_FAILING = "tossd: polling sms is failing"
KEY_REJECTED = "tossd: the Tossable Digits API key was rejected"
KEY_BACK = "tossd: the API key works again"
DELIVERED_AGAIN = "tossd: notifications are delivered again"


def ok(stream: Stream = Stream.CALLS, extensions: int = 2) -> StreamReport:
    return StreamReport(stream=stream, extensions=extensions, failed=0)


def failing(stream: Stream = Stream.CALLS, failed: int = 2, extensions: int = 2) -> StreamReport:
    return StreamReport(stream=stream, extensions=extensions, failed=failed)


def rejected(stream: Stream = Stream.CALLS) -> StreamReport:
    return StreamReport(stream=stream, extensions=2, failed=2, key_rejected=True)


def drained(sent: int = 0, failed: int = 0, dead: int = 0) -> DrainReport:
    return DrainReport(planned=sent + failed + dead, sent=sent, failed=failed, dead=dead)


def titles_after_each(alerter: Alerter, steps: list[Step]) -> list[list[str]]:
    said: list[list[str]] = []
    for step in steps:
        if isinstance(step, StreamReport):
            alerts = alerter.after_poll(step)
        else:
            alerts = alerter.after_drain(step)
        said.append([alert.title for alert in alerts])
    return said


@pytest.mark.parametrize(
    ("after_failures", "steps", "expected"),
    [
        # Failing polls alert once, when the streak reaches after_failures, not before or after.
        (3, [failing(), failing(), failing(), failing()], [[], [], [CALLS_FAILING], []]),
        # A streak that a success interrupts starts again from zero: no alert.
        (3, [failing(), failing(), ok(), failing(), failing()], [[], [], [], [], []]),
        # Recovery is told once, and the following successes say nothing.
        (2, [failing(), failing(), ok(), ok()], [[], [CALLS_FAILING], [CALLS_BACK], []]),
        # A success without an alert before it says nothing.
        (2, [failing(), ok()], [[], []]),
        # A partial failure (one number of two) counts as failing.
        (2, [failing(failed=1), failing(failed=1)], [[], [CALLS_FAILING]]),
        # after_failures = 1: the first failure alerts.
        (1, [failing(), failing(), ok()], [[CALLS_FAILING], [], [CALLS_BACK]]),
        # After a recovery, a new streak alerts again.
        (
            1,
            [failing(), ok(), failing()],
            [[CALLS_FAILING], [CALLS_BACK], [CALLS_FAILING]],
        ),
        # Streams keep their own streaks: sms succeeding does not reset calls.
        (
            2,
            [failing(), ok(Stream.SMS), failing(), failing(Stream.SMS), failing(Stream.SMS)],
            [[], [], [CALLS_FAILING], [], [SMS_FAILING]],
        ),
        # Another stream recovering does not announce the failing one as back.
        (1, [failing(), ok(Stream.SMS)], [[CALLS_FAILING], []]),
    ],
)
def test_polling_streaks(after_failures: int, steps: list[Step], expected: list[list[str]]) -> None:
    assert titles_after_each(Alerter(after_failures=after_failures), steps) == expected


#: A stream refused twice in a row: enough, when no other stream works, to believe the key.
REFUSED = [rejected(), rejected()]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # A rejected key alerts once (at its second refusal), however many polls it rejects.
        (
            [*REFUSED, rejected(Stream.SMS), rejected(Stream.SMS), rejected()],
            [[], [KEY_REJECTED], [], [], []],
        ),
        # The first poll that reaches a number afterwards says the key works again, once.
        ([*REFUSED, ok(), ok()], [[], [KEY_REJECTED], [KEY_BACK], []]),
        # A poll where some numbers fail still proves the key works.
        ([*REFUSED, failing(failed=1)], [[], [KEY_REJECTED], [KEY_BACK]]),
        # A poll where every number fails proves nothing: no recovery yet.
        ([*REFUSED, failing(), ok()], [[], [KEY_REJECTED], [], [KEY_BACK]]),
        # A poll of no numbers at all proves nothing either.
        ([*REFUSED, ok(extensions=0), ok()], [[], [KEY_REJECTED], [], [KEY_BACK]]),
        # Rejected again after recovering: a new alert.
        (
            [*REFUSED, ok(), *REFUSED],
            [[], [KEY_REJECTED], [KEY_BACK], [], [KEY_REJECTED]],
        ),
        # Rejections do not count as failing polls once the key is believed rejected.
        ([*REFUSED, rejected(), rejected(), failing()], [[], [KEY_REJECTED], [], [], []]),
        # A key that never failed has nothing to recover from.
        ([ok(), ok()], [[], []]),
    ],
)
def test_a_rejected_key(steps: list[Step], expected: list[list[str]]) -> None:
    assert titles_after_each(Alerter(after_failures=3), steps) == expected


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # The flapping: smsGet's error mentions "key" while calls work. Before, each
        # pair of polls said "rejected" then "works again"; now neither is ever said.
        (
            [rejected(Stream.SMS), ok(), rejected(Stream.SMS), ok()] * 5,
            [[]] * 20,
        ),
        # Even when the refused stream reports first, and then many times in a row.
        ([rejected(Stream.SMS), ok(), *[rejected(Stream.SMS)] * 6], [[]] * 8),
        # One refusal alone is not believed yet (one stream's odd wording, once).
        ([rejected()], [[]]),
        # Every stream refusing, twice each: that is the key.
        (
            [rejected(), rejected(Stream.SMS), rejected(), rejected(Stream.SMS)],
            [[], [], [], [KEY_REJECTED]],
        ),
    ],
)
def test_a_stream_mentioning_the_key_never_flaps_the_key_alert(
    steps: list[Step], expected: list[list[str]]
) -> None:
    assert titles_after_each(Alerter(after_failures=100), steps) == expected


def test_a_stream_refused_for_the_key_while_others_work_is_a_failing_stream() -> None:
    # Its failures count like any other: one "sms is failing" alert, once.
    steps: list[Step] = [rejected(Stream.SMS), ok(), rejected(Stream.SMS), ok()] * 2
    said = titles_after_each(Alerter(after_failures=3), steps)
    assert [title for step in said for title in step] == [SMS_FAILING]


def test_key_rejected_outside_a_poll_counts_as_the_same_alert() -> None:
    alerter = Alerter(after_failures=3)
    first = alerter.key_rejected("401 Unauthorized\nkey revoked")
    assert [alert.title for alert in first] == [KEY_REJECTED]
    # The API's words end up on one line in the body.
    assert "The API said: 401 Unauthorized key revoked\n" in first[0].body
    # A poll rejected afterwards does not say it again.
    assert titles_after_each(alerter, [rejected(), ok()]) == [[], [KEY_BACK]]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # Rows given up are told, with their number.
        ([drained(dead=2)], [["tossd: 2 notification(s) given up"]]),
        # Each drain that gives rows up tells of those rows: each is news.
        (
            [drained(dead=1), drained(dead=3)],
            [["tossd: 1 notification(s) given up"], ["tossd: 3 notification(s) given up"]],
        ),
        # A clean drain after rows were given up says deliveries work again, once.
        (
            [drained(dead=1), drained(sent=2), drained(sent=1)],
            [["tossd: 1 notification(s) given up"], [DELIVERED_AGAIN], []],
        ),
        # A drain that still has failures is no recovery.
        (
            [drained(dead=1), drained(sent=2, failed=1), drained(sent=1)],
            [["tossd: 1 notification(s) given up"], [], [DELIVERED_AGAIN]],
        ),
        # A drain that sent nothing is no recovery either.
        (
            [drained(dead=1), drained(), drained(sent=1)],
            [["tossd: 1 notification(s) given up"], [], [DELIVERED_AGAIN]],
        ),
        # Healthy drains without a dead row before them say nothing.
        ([drained(sent=4), drained(sent=1, failed=1)], [[], []]),
        # Polls and drains are told apart: a poll's success does not end the dead alert.
        (
            [drained(dead=1), ok(), drained(sent=1)],
            [["tossd: 1 notification(s) given up"], [], [DELIVERED_AGAIN]],
        ),
    ],
)
def test_dead_deliveries(steps: list[Step], expected: list[list[str]]) -> None:
    assert titles_after_each(Alerter(after_failures=3), steps) == expected


def test_the_failing_alert_says_how_bad_it_is() -> None:
    alerter = Alerter(after_failures=2)
    alerter.after_poll(failing(failed=1, extensions=3))
    (alert,) = alerter.after_poll(failing(failed=1, extensions=3))
    assert alert.title == CALLS_FAILING
    assert alert.body.startswith("2 polls in a row failed for 1 of 3 numbers.")


@pytest.mark.parametrize(
    ("syncs", "told"),
    [
        ([["ops"]], [["ops"]]),  # a route that matches nothing is told once
        ([["ops"], ["ops"], ["ops"]], [["ops"], [], []]),  # not again at every hourly sync
        ([["ops"], [], ["ops"]], [["ops"], [], ["ops"]]),  # again only after it matched
        ([["b", "a"], ["a", "b", "c"]], [["a", "b"], ["c"]]),  # per route, in name order
    ],
)
def test_routes_that_match_no_number_are_told_once(
    syncs: list[list[str]], told: list[list[str]]
) -> None:
    alerter = Alerter(after_failures=3)
    titles = [
        [
            alert.title.split("route ")[1].split(" matches")[0]
            for alert in alerter.routes_unmatched(s)
        ]
        for s in syncs
    ]
    assert titles == told


def test_local_trouble_is_told_once_per_change_after_n_checks() -> None:
    local = LocalAlerts(after_failures=2)
    deleted = "the database file /x/tossd.db was deleted (what tossd records is lost)"

    told = [local.store_checked(t) for t in (deleted, deleted, deleted, None, deleted, None)]

    assert [[a.title for a in alerts] for alerts in told] == [
        [],
        ["tossd: its database is in trouble"],
        [],
        [],  # one clear check is not yet the end
        [],
        [],
    ]
    assert "was deleted" in told[1][0].body
    assert [a.title for a in local.store_checked(None) + local.store_checked(None)] == [
        "tossd: its database is fine again"
    ]


def test_unwritten_results_are_told_once_and_their_end_once() -> None:
    local = LocalAlerts(after_failures=1)
    titles = [[a.title for a in local.results_checked(n)] for n in (3, 4, 0, 0)]
    assert titles == [
        ["tossd: notifications are held: results cannot be written"],
        [],
        ["tossd: results are written again"],
        [],
    ]
