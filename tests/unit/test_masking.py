"""What of a secret-bearing text may be shown: only the secrets are masked."""

from __future__ import annotations

import pytest

from tossd.cli.log import SecretRedactor
from tossd.notify.apprise.kinds import secret_parts, shown_url
from tossd.text.masking import redact, url_secrets


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        # A short key ("sandbox") is masked as a whole word only: names that contain it stay.
        ("sandbox.listening on 127.0.0.1", ["sandbox"], "sandbox.listening on 127.0.0.1"),
        ("apikey=sandbox&method=x", ["sandbox"], "apikey=****&method=x"),
        ("key sandbox refused", ["sandbox"], "key **** refused"),
        # Eight characters or more: masked wherever it appears, even inside a word.
        ("token=xAbc12345678y", ["Abc12345678"], "token=x****y"),
        # Longest first, so a secret holding another is masked whole.
        ("user:password1", ["password1", "user:password1"], "****"),
    ],
)
def test_redact_masks_secrets_not_words(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


def test_the_log_redactor_keeps_event_names_with_the_sandbox_key() -> None:
    redactor = SecretRedactor(["sandbox"])
    event = redactor(None, "info", {"event": "sandbox.listening", "url": "http://x?k=sandbox"})
    assert event == {"event": "sandbox.listening", "url": "http://x?k=***"}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # A local folder is no secret: two folder targets are told apart.
        ("tossd-file:///srv/a/notifications", "tossd-file:///srv/a/notifications"),
        # Apprise's private parts (tokens, passwords) masked; hosts and ports shown.
        ("slack://T1234567/B1234567/XXXXXXXXXXXXXXXX", "slack://****/****/****"),
        ("mailtos://alerts:pw12345678@smtp.example.com", "mailtos://alerts:****@smtp.example.com"),
        ("json://127.0.0.1:8080/hook", "json://127.0.0.1:8080/hook"),
    ],
)
def test_shown_url_masks_only_secrets(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_secret_parts_are_what_is_not_shown() -> None:
    url = "mailtos://alerts:pw12345678@smtp.example.com"
    parts = secret_parts(url)
    assert "pw12345678" in parts
    # The host is shown in the TARGET column, so an error may name it too.
    assert not any(part == "smtp.example.com" for part in parts)
    assert url_secrets("tossd-file:///srv/a/notifications") == ()
