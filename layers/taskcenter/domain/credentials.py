"""Credential formats. Tokens are random and high-entropy, so a plain SHA-256 is the right stored form."""

from __future__ import annotations

import hashlib

from taskcenter.domain.ids import random_alnum

API_KEY_PREFIX = "sk-"
ROLE_COMMON, ROLE_ADMIN, ROLE_ROOT = 1, 10, 100
ENABLED, DISABLED = 1, 2


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + random_alnum(48)


def new_access_token() -> str:
    """Dashboard access token (new-api style: 32 characters, no prefix)."""
    return random_alnum(32)


def preview(token: str) -> str:
    return f"{token[:7]}...{token[-4:]}" if len(token) > 12 else "***"


def bearer_value(header: str | None) -> str:
    """`Bearer xyz` -> `xyz`; a bare value is accepted too. Empty string when absent."""
    if not header:
        return ""
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


def is_api_key(token: str) -> bool:
    return token.startswith(API_KEY_PREFIX)
