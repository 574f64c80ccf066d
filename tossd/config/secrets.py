"""Where the API key comes from: api.key, api.key_file, $TOSSD_API_KEY, systemd credential."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from tossd.config.problems import problem

KEY_ENV = "TOSSD_API_KEY"


def read_secret(path: Path, subkey: str) -> SecretStr:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise problem(f"cannot read {path}: {exc.strerror or type(exc).__name__}", subkey) from None
    except UnicodeDecodeError:
        # The decode error quotes the offending bytes: part of the secret, so drop it.
        raise problem(f"{path} is not UTF-8 text", subkey) from None
    if not text.strip():
        raise problem(f"{path} is empty", subkey)
    return SecretStr(text.strip())


def find_key(
    key: SecretStr | None, key_file: Path | None, env: Mapping[str, str]
) -> tuple[SecretStr | None, str | None]:
    """api.key, else api.key_file, else $TOSSD_API_KEY, else the systemd credential."""
    if key is not None:
        return SecretStr(key.get_secret_value().strip()), "api.key"
    if key_file is not None:
        return read_secret(key_file, "key_file"), f"api.key_file {key_file}"
    if env.get(KEY_ENV, "").strip():
        return SecretStr(env[KEY_ENV].strip()), f"${KEY_ENV}"
    credentials = env.get("CREDENTIALS_DIRECTORY")
    path = Path(credentials) / "api_key" if credentials else None
    # The service may load other credentials without this one: absent is not an error.
    if path is None or not path.exists():
        return None, None
    return read_secret(path, "key"), "systemd credential $CREDENTIALS_DIRECTORY/api_key"
