"""Tokens at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256) before they touch the store.

The key comes from `SYNCDESK_SECRET_KEY` (a Fernet key), else from a key file
(`SYNCDESK_KEY_FILE`, default `secret.key` in the per-user config directory) that is created
on first use with mode 0600. Losing the key means reconnecting every platform, nothing worse.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs
from cryptography.fernet import Fernet, InvalidToken

from ._errors import ConfigError

ENV_KEY = "SYNCDESK_SECRET_KEY"
ENV_KEY_FILE = "SYNCDESK_KEY_FILE"


def default_key_file() -> Path:
    if env := os.environ.get(ENV_KEY_FILE):
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("syncdesk", appauthor=False)) / "secret.key"


class Sealer:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                f"the secret key is not a Fernet key (32 url-safe base64 bytes); "
                f"check {ENV_KEY} or the key file"
            ) from None

    @classmethod
    def load(cls) -> Sealer:
        if env := os.environ.get(ENV_KEY):
            return cls(env.encode())
        return cls(_key_from_file(default_key_file()))

    def seal(self, secrets: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(secrets).encode())

    def unseal(self, sealed: bytes) -> dict[str, Any]:
        try:
            secrets: dict[str, Any] = json.loads(self._fernet.decrypt(sealed))
        except InvalidToken:
            raise ConfigError(
                "stored tokens cannot be decrypted with this secret key: was the key file "
                "replaced? Reconnect the platform with `syncdesk connect`"
            ) from None
        return secrets


def _key_from_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: two processes starting at once must not both write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
