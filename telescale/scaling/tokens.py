"""Pre-signed signal URLs: a random secret in the path is the only credential, so only its hash is stored.

A token is 256 random bits (URL-safe base64); the indexer keeps its SHA-256, so a leaked database does not
leak working URLs, and rotating or revoking a policy's token makes the old URL answer 404 at once. The
URL is shown once, when the policy is created or its token rotated.
"""

from __future__ import annotations

import hashlib
import secrets

#: Where pre-signed signals arrive: ``POST /v1/signal/<token>``, open to anyone holding the token (the
#: keystone middleware lets this prefix through; the token is the credential).
SIGNAL_PREFIX = "/v1/signal/"
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the indexer stores and looks tokens up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def looks_like_token(token: str) -> bool:
    """A cheap filter before the lookup: the alphabet and length ``new_token`` produces."""
    return 20 <= len(token) <= 128 and all(c.isalnum() or c in "-_" for c in token)
