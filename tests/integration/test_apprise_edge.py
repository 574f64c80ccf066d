"""The Apprise edge against real receivers on loopback: SMTP, a JSON webhook, a folder."""

from __future__ import annotations

import asyncio
import base64
import importlib
import re
import time
from pathlib import Path

import pytest
from support.net import free_port
from support.receivers import JsonReceiver, SmtpServer

from tossd.notify.apprise import kinds as apprise_edge
from tossd.notify.apprise.kinds import target_info, validate_url
from tossd.notify.apprise.send import send
from tossd.notify.message import Attachment, Message, SendResult, TargetInfo
from tossd.sandbox.audio import tone_mp3
from tossd.text.masking import mask_url

MIB = 1024 * 1024
SECRET_URL_PARTS = ("s3cretpass", "abcdef123456")
TITLE = "Voicemail from +1 555 0100"
BODY = "3 s voicemail <b>not bold</b> & <!here>"


@pytest.fixture
def mp3(tmp_path: Path) -> Attachment:
    path = tmp_path / "voicemail-42.mp3"
    path.write_bytes(tone_mp3(3))
    return Attachment(path=path, name="voicemail.mp3", size=path.stat().st_size)


async def test_mp3_arrives_by_smtp_as_audio_part(smtp_server: SmtpServer, mp3: Attachment) -> None:
    result = await send(smtp_server.url(), Message(TITLE, BODY, (mp3,)), kind="email")

    assert result == SendResult(ok=True)
    [mail] = await smtp_server.wait_for(1)
    assert mail["subject"] == TITLE
    [part] = [p for p in mail.iter_attachments() if p.get_content_type() == "audio/mpeg"]
    assert part.get_filename() == "voicemail.mp3"
    assert part.get_content() == mp3.path.read_bytes()
    # Sent as TEXT, mail goes out as text/plain with the body untouched (nothing escaped).
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None and text.get_content().strip() == BODY


async def test_json_receiver_gets_title_body_and_base64_attachment(
    json_receiver: JsonReceiver, mp3: Attachment
) -> None:
    result = await send(json_receiver.url("hooks/tossd"), Message(TITLE, BODY, (mp3,)), kind="json")

    assert result.ok, result.error
    [payload] = await json_receiver.wait_for(1)
    assert json_receiver.posts[0].path == "/hooks/tossd"
    assert (payload["title"], payload["message"], payload["type"]) == (TITLE, BODY, "info")
    [attached] = payload["attachments"]
    assert (attached["filename"], attached["mimetype"]) == ("voicemail.mp3", "audio/mpeg")
    assert base64.b64decode(attached["base64"]) == mp3.path.read_bytes()


async def test_failing_receiver_gives_a_reason_without_secrets(
    json_receiver: JsonReceiver, apprise_logs: pytest.LogCaptureFixture
) -> None:
    json_receiver.down = True
    url = json_receiver.url("path", auth="user:s3cretpass", query="token=abcdef123456")

    result = await send(url, Message(TITLE, BODY), kind="json")

    assert result.ok is False and result.error is not None
    assert "error=500" in result.error
    assert json_receiver.attempts == 1
    for secret in (url, *SECRET_URL_PARTS):
        assert secret not in result.error
        assert secret not in apprise_logs.text


async def test_unreachable_receiver_is_a_result_not_an_exception() -> None:
    url = f"json://user:s3cretpass@127.0.0.1:{free_port()}/x?token=abcdef123456"

    result = await send(url, Message(TITLE, BODY), kind="json")

    assert result.ok is False and result.error is not None
    assert "Connection error" in result.error
    assert not any(secret in result.error for secret in SECRET_URL_PARTS)


async def test_receiver_recovers_after_failures(json_receiver: JsonReceiver) -> None:
    json_receiver.fail_next(1)

    first = await send(json_receiver.url(), Message(TITLE, "first"), kind="json")
    second = await send(json_receiver.url(), Message(TITLE, "second"), kind="json")

    assert (first.ok, second.ok) == (False, True)
    assert [p["message"] for p in json_receiver.payloads] == ["second"]


async def test_one_failing_target_does_not_affect_another(json_receiver: JsonReceiver) -> None:
    dead = f"json://127.0.0.1:{free_port()}/notify"

    bad, good = await asyncio.gather(
        send(dead, Message(TITLE, "lost"), kind="json"),
        send(json_receiver.url(), Message(TITLE, "kept"), kind="json"),
    )

    assert (bad.ok, good.ok) == (False, True)
    assert json_receiver.payloads[0]["message"] == "kept"


async def test_send_does_not_block_the_event_loop(json_receiver: JsonReceiver) -> None:
    # The receiver shares this loop: had send() blocked it, the answer could never come.
    json_receiver.delay_s = 0.5
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        result = await send(json_receiver.url(), Message(TITLE, BODY), kind="json")
    finally:
        ticker.cancel()

    assert result.ok, result.error
    assert ticks >= 20


async def test_slow_receiver_times_out(json_receiver: JsonReceiver) -> None:
    json_receiver.delay_s = 1.0
    started = time.monotonic()

    result = await send(json_receiver.url(), Message(TITLE, BODY), kind="json", timeout_s=0.2)

    assert result.ok is False and result.error is not None
    assert result.error.startswith("no answer within 0.2 s")
    assert time.monotonic() - started < 0.9


async def test_folder_target_writes_text_and_attachment_copies(
    tmp_path: Path, mp3: Attachment
) -> None:
    folder = tmp_path / "out" / "inbox"
    evil = Attachment(mp3.path, "../../escape.mp3", mp3.size)
    url = f"tossd-file://{folder}"
    assert url.startswith("tossd-file:///")

    first = await send(url, Message(TITLE, BODY, (mp3, evil)), kind="file")
    second = await send(url, Message("second", "body"), kind="file")

    assert (first.ok, second.ok) == (True, True), (first.error, second.error)
    texts = sorted(folder.glob("*.txt"))
    assert len(texts) == 2
    assert texts[0].read_text() == f"{TITLE}\n\n{BODY}\n"
    stem = texts[0].stem
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-\d{6}", stem)
    copies = sorted(p.name for p in folder.iterdir() if p.suffix == ".mp3")
    assert copies == [f"{stem}-_.._escape.mp3", f"{stem}-voicemail.mp3"]
    assert (folder / f"{stem}-voicemail.mp3").read_bytes() == mp3.path.read_bytes()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert {p.parent for p in tmp_path.rglob("*.mp3")} == {tmp_path, folder}


async def test_folder_target_failure_is_reported_without_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "occupied"
    blocker.write_text("a file where the folder should be")

    result = await send(f"tossd-file://{blocker}/inbox", Message(TITLE, BODY), kind="file")

    assert result.ok is False and result.error is not None
    assert "Could not write to the tossd-file folder" in result.error
    assert "occupied" not in result.error and tmp_path.name not in result.error


@pytest.mark.parametrize(
    "url",
    [
        "json://127.0.0.1:8080/notify",
        "mailto://127.0.0.1:2525?from=tossd@example.com&to=you@example.com&mode=insecure",
        "slack://T000/B000/XXXX",
        "tossd-file:///var/lib/tossd/outbox",
    ],
)
def test_validate_url_accepts_loadable_urls(url: str) -> None:
    assert validate_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "hooks.slack.com/services/T000/B000/secretsecret",
        "json://",
        "nosuchservice://secretvalue123",
        "slack://T000/B000/bad!tok!value999",
        "discord://123456/",
        "mailto://127.0.0.1:2525?to=you@example.com",
        "tossd-file://",
    ],
)
def test_validate_url_reason_quotes_no_part_of_the_url(
    url: str, apprise_logs: pytest.LogCaptureFixture
) -> None:
    reason = validate_url(url)

    assert reason
    scheme = url.partition("://")[0] if "://" in url else None
    parts = [p for p in re.split(r"[:/?&=@#]+", url) if len(p) >= 4 and p != scheme]
    for part in [url, *parts] if url else []:
        assert part not in reason
    assert "bad!tok!value999" not in apprise_logs.text


def test_apprise_logger_masks_a_rejected_token(apprise_logs: pytest.LogCaptureFixture) -> None:
    # Apprise logs the invalid token it was given; the edge's filter masks it.
    assert validate_url("slack://T000/B000/bad!tok!value999")
    [complaint] = [r for r in apprise_logs.records if "Token" in r.getMessage()]
    assert "(****)" in complaint.getMessage()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mailto://127.0.0.1:2525?from=tossd@example.com&to=you@example.com",
            TargetInfo("mailto", "email", True, 20 * MIB),
        ),
        ("slack://T000/B000/XXXX", TargetInfo("slack", "slack", False, 0)),
        ("slack://xoxb-1234-1234-abc123/#general", TargetInfo("slack", "slack", True, 20 * MIB)),
        ("discord://123456/abcdefg", TargetInfo("discord", "discord", True, 20 * MIB)),
        (
            "twilio://AC0123456789012345678901234567890a:tokentoken@15551234567/15557654321",
            TargetInfo("twilio", "sms", False, 0),
        ),
        ("json://127.0.0.1:8080/notify", TargetInfo("json", "json", True, 20 * MIB)),
        ("tossd-file:///var/lib/tossd/out", TargetInfo("tossd-file", "file", True, 20 * MIB)),
        ("ntfy://mytopic", TargetInfo("ntfy", "plain", True, 15 * MIB)),
        (
            "tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz0123456/12345",
            TargetInfo("tgram", "markdown", True, 20 * MIB),
        ),
        (
            "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi",
            TargetInfo("pover", "plain", True, 5 * MIB),
        ),
        ("rocket://user:pass@rocket.example.com/#chan", TargetInfo("rocket", "markdown", False, 0)),
        ("mmost://mattermost.example.com/abcdef", TargetInfo("mmost", "markdown", False, 0)),
    ],
)
def test_target_info(url: str, expected: TargetInfo) -> None:
    assert target_info(url) == expected


def test_target_info_refuses_an_unloadable_url() -> None:
    with pytest.raises(ValueError, match="does not start with scheme"):
        target_info("hooks.slack.com/services/T000/B000/secretsecret")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "json://user:s3cretpass@127.0.0.1:8080/path?token=abcdef123456",
            "json://****@127.0.0.1:8080/...",
        ),
        ("mailto://127.0.0.1:2525?from=a@example.com", "mailto://127.0.0.1:2525/..."),
        ("slack://T000/B000/XXXX", "slack://****/..."),
        ("tgram://123456789:AAHabcdefghijklmnop/12345", "tgram://****/..."),
        ("tossd-file:///var/lib/tossd/out", "tossd-file:///..."),
        ("json://[::1]:8080", "json://[::1]:8080"),
        ("hooks.slack.com/services/T000/B000/secretsecret", "****"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_reimporting_the_edge_keeps_the_folder_scheme() -> None:
    importlib.reload(apprise_edge)

    assert apprise_edge.validate_url("tossd-file:///var/lib/tossd/out") is None
