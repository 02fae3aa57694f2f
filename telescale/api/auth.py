"""Who is calling: the identity of a request in each of Gnocchi's authentication modes.

* ``basic`` (the default, as Gnocchi's): the user name comes from HTTP Basic credentials, the password
  is ignored and the user ``admin`` holds the admin role.  No project: listings are not filtered.
* ``remoteuser``: the user set by an authenticating front proxy (``X-Remote-User`` or the ASGI
  ``remote_user`` extension); otherwise as ``basic``.
* ``keystone``: keystonemiddleware validates ``X-Auth-Token`` (see :mod:`telescale.api.keystone`) and
  sets ``X-User-Id``, ``X-Project-Id`` and ``X-Roles``, read here.
* ``noauth``: the same three headers, trusted as sent — for deployments behind a proxy that
  authenticates, and for clients' no-auth plugins.  Never expose it directly.

In the last two modes the creator recorded on objects is ``user_id:project_id`` (Gnocchi's keystone
form) and what the caller sees is scoped to its project by :mod:`telescale.api.policy`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.openapi.models import HTTPBase
from fastapi.security.base import SecurityBase

from telescale.api.errors import ApiError

ADMIN_USER = "admin"
AUTH_MODES = ("basic", "remoteuser", "keystone", "noauth")
SCOPED_MODES = frozenset({"keystone", "noauth"})


@dataclass(frozen=True)
class Identity:
    user: str
    project: str | None = None
    roles: frozenset[str] = frozenset()
    scoped: bool = False  # True when the caller belongs to a project (keystone, noauth)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def creator(self) -> str:
        return f"{self.user}:{self.project or ''}" if self.scoped else self.user

    def credentials(self) -> dict[str, Any]:
        """What oslo.policy checks rules against (``user``, ``project_id``, ``roles``)."""
        return {"user": self.creator, "user_id": self.user, "project_id": self.project,
                "roles": sorted(self.roles)}


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


def _named_user(user: str) -> Identity:
    return Identity(user=user, roles=frozenset({"admin"}) if user == ADMIN_USER else frozenset())


def _header_identity(request: Request) -> Identity:
    user = request.headers.get("x-user-id", "").strip()
    project = request.headers.get("x-project-id", "").strip()
    if not user and not project:
        raise ApiError(401, "Authentication required: X-User-Id and X-Project-Id headers are missing")
    roles = frozenset(r.strip().lower() for r in request.headers.get("x-roles", "").split(",") if r.strip())
    return Identity(user=user, project=project or None, roles=roles, scoped=True)


def _identity(request: Request) -> Identity:
    mode = request.app.state.settings.api.auth_mode
    if mode in SCOPED_MODES:
        return _header_identity(request)
    if mode == "remoteuser":
        user = request.headers.get("x-remote-user") or request.scope.get("extensions", {}).get("remote_user")
        if not user:
            raise _unauthorized()
        return _named_user(user)
    header = request.headers.get("authorization", "")
    if not header.strip():
        raise _unauthorized()
    return _named_user(_basic_user(header))


class _IdentityDependency(SecurityBase):
    """The caller as a FastAPI security dependency, so that the OpenAPI description marks the routes needing
    auth (:mod:`telescale.api.openapi` lists the scheme of each mode there)."""

    def __init__(self) -> None:
        self.model = HTTPBase(scheme="basic")
        self.scheme_name = "basic"

    async def __call__(self, request: Request) -> Identity:  # async: no I/O, so no thread hop per request
        return _identity(request)


get_identity = _IdentityDependency()
"""FastAPI dependency: the caller, or 401."""
