"""Keystone tokens for ``trust+`` actions: the service user, scoped to the alarm's trust.

Settings come from the free-form ``[service_credentials]`` section, as in Aodh: ``auth_url`` (Keystone's
URL, with or without its ``/v3``), ``username``, ``password``, ``user_domain_id`` (default ``default``) or
``user_domain_name``, and optionally ``cafile`` / ``insecure``. keystoneauth1 re-authenticates only when a
cached token is about to expire. Trust ids never reach a log line or an error message.
:func:`service_plugin` is shared with :mod:`telescale.alarming.trusts`, which creates the trusts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from telescale.alarming.notifiers.base import DeliveryFailed

#: The loggers keystoneauth writes token bodies to (at DEBUG); they name the trust.
_TOKEN_BODY_LOGGERS = ("keystoneauth.identity.v3.base",)


class _NoTokenBodies(logging.Filter):
    """Drops keystoneauth's DEBUG dump of the token response, which holds the trust id."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "OS-TRUST" not in record.getMessage()


def hide_token_bodies() -> None:
    for name in _TOKEN_BODY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTokenBodies) for f in logger.filters):
            logger.addFilter(_NoTokenBodies())


class TrustTokens:
    """One keystoneauth session per trust (most recently used kept), tokens fetched in a thread."""

    def __init__(self, credentials: Mapping[str, Any], timeout: float, cache_size: int = 256) -> None:
        self.credentials = dict(credentials)
        self.timeout = timeout
        self.cache_size = cache_size
        self._sessions: OrderedDict[str, ks_session.Session] = OrderedDict()
        hide_token_bodies()

    def _session(self, trust_id: str) -> ks_session.Session:
        session = self._sessions.pop(trust_id, None)
        if session is None:
            session = self._new_session(trust_id)
        self._sessions[trust_id] = session
        while len(self._sessions) > self.cache_size:
            self._sessions.popitem(last=False)
        return session

    def _new_session(self, trust_id: str) -> ks_session.Session:
        if not self.credentials.get("auth_url"):
            raise DeliveryFailed("trust+ actions need service_credentials.auth_url (the Keystone URL)", retry=False)
        return ks_session.Session(auth=service_plugin(self.credentials, trust_id),
                                  verify=tls_verify(self.credentials), timeout=self.timeout)

    async def token(self, trust_id: str) -> str:
        """A valid token for ``trust_id``; ``DeliveryFailed`` (final when Keystone refuses the trust)."""
        session = self._session(trust_id)
        try:
            token = await asyncio.to_thread(session.get_token)
        except (ks_exceptions.Unauthorized, ks_exceptions.Forbidden, ks_exceptions.NotFound) as e:
            self._sessions.pop(trust_id, None)
            raise DeliveryFailed(f"Keystone refused a token for the alarm's trust (HTTP {e.http_status})",
                                 retry=False) from None
        except ks_exceptions.HttpError as e:
            raise DeliveryFailed(f"Keystone answered HTTP {e.http_status} to the trust's token request",
                                 retry=True) from None
        except ks_exceptions.ClientException as e:
            raise DeliveryFailed(f"no token from Keystone for the alarm's trust: {type(e).__name__}",
                                 retry=True) from None
        if not token:
            raise DeliveryFailed("Keystone returned no token for the alarm's trust", retry=True)
        return token


def identity_v3_url(auth_url: str) -> str:
    """Keystone's v3 API under ``auth_url``, which operators write with or without ``/v3`` (Aodh discovers it)."""
    url = auth_url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"


def service_plugin(credentials: Mapping[str, Any], trust_id: str | None = None) -> v3.Password:
    """The service user's password identity, scoped to ``trust_id`` (None: unscoped, to learn its user id)."""
    domain = {"user_domain_name": credentials["user_domain_name"]} if credentials.get("user_domain_name") else {
        "user_domain_id": credentials.get("user_domain_id", "default")}
    return v3.Password(auth_url=identity_v3_url(credentials["auth_url"]), username=credentials.get("username"),
                       user_id=credentials.get("user_id"), password=credentials.get("password"), trust_id=trust_id,
                       include_catalog=False, **domain)


def tls_verify(credentials: Mapping[str, Any]) -> bool | str:
    """keystoneauth's ``verify``: the CA file, or whether to check Keystone's certificate at all."""
    return credentials.get("cafile") or not _true(credentials.get("insecure", False))


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "yes", "1")
