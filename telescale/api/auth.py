"""Who is calling, and what they may do.

`basic` mode (Gnocchi's default): the user name comes from HTTP Basic credentials, the password is
ignored, and the user `admin` is the administrator.  `remoteuser` reads REMOTE_USER-style headers set by
a fronting proxy.  The creator recorded on objects is the user name, as in Gnocchi.  Rules mirror
Gnocchi's default policy: reading is open to any authenticated user, writing archive policies and rules
is for the admin, everything else for its creator or the admin.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from fastapi import Request

from telescale.api.errors import ApiError, forbidden

ADMIN_USER = "admin"


@dataclass(frozen=True)
class Identity:
    user: str
    project: str | None = None
    roles: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.user == ADMIN_USER or "admin" in self.roles

    @property
    def creator(self) -> str:
        return self.user if self.project is None else f"{self.user}:{self.project}"


def _unauthorized() -> ApiError:
    return ApiError(401, "Authentication required", {"WWW-Authenticate": 'Basic realm="telescale"'})


def _basic_user(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise _unauthorized()
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _unauthorized() from None
    user = decoded.partition(":")[0]
    if not user:
        raise _unauthorized()
    return user


async def get_identity(request: Request) -> Identity:
    """FastAPI dependency: the caller, or 401 (async: no I/O, so no thread hop per request)."""
    mode = request.app.state.settings.api.auth_mode
    if mode == "remoteuser":
        user = request.headers.get("x-remote-user") or request.scope.get("extensions", {}).get("remote_user")
        if not user:
            raise _unauthorized()
        return Identity(user=user)
    header = request.headers.get("authorization", "")
    if not header.strip():
        raise _unauthorized()
    return Identity(user=_basic_user(header))


def require_admin(identity: Identity) -> None:
    if not identity.is_admin:
        raise forbidden()


def require_creator_or_admin(identity: Identity, creator: str | None) -> None:
    if not (identity.is_admin or identity.creator == creator):
        raise forbidden()
