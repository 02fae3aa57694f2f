"""Keystone trusts behind ``trust+http(s)://`` actions: created when an alarm is written, deleted when it is not
needed any more (what Aodh's ``keystone_client.create_trust_id`` / ``delete_trust_id`` do).

The trustor is the caller, acting with its own token (the one keystonemiddleware validated); the trustee is
the service user of ``[service_credentials]``, whose password token the notifier later scopes to the trust
(:mod:`telescale.alarming.notifiers.keystone`). A trust carries the caller's roles on its project, with
impersonation and no expiry, so the receiver (Heat) sees the alarm's owner. Every request has a timeout
(``service_credentials.timeout``, default 10 s) and is never logged: its body or URL holds the trust id, and
no error raised here names one.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session

from telescale.alarming.notifiers.keystone import hide_token_bodies, identity_v3_url, service_plugin, tls_verify

LOG = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 10.0
#: urllib3 logs each request line at DEBUG; a trust's URL holds its id.
_REQUEST_LOGGERS = ("urllib3.connectionpool",)
_TRUST_PATH = re.compile(r"(/OS-TRUST/trusts/)[^\s/?#\"']+")


class _RedactTrustPaths(logging.Filter):
    """Keeps the request line of a trust request in the log, with its trust id replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/OS-TRUST/trusts/" in message:
            record.msg, record.args = _TRUST_PATH.sub(r"\1…", message), ()
        return True


def _redact_trust_paths() -> None:
    for name in _REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTrustPaths) for f in logger.filters):
            logger.addFilter(_RedactTrustPaths())


class TrustFailed(Exception):
    """Keystone did not create or delete a trust.

    ``keystone_status`` is Keystone's HTTP status (None: no answer, or nothing was asked); ``refused`` is True
    when Keystone refused the caller (its token, roles or credential type), False when the server is at fault
    (its settings, its service user, Keystone down).
    """

    def __init__(self, message: str, *, keystone_status: int | None = None, refused: bool = False) -> None:
        super().__init__(message)
        self.keystone_status = keystone_status
        self.refused = refused


class Trusts:
    """Creates and deletes trusts for the service user of ``credentials`` (one shared HTTP session)."""

    def __init__(self, credentials: Mapping[str, Any], timeout: float | None = None) -> None:
        self.credentials = dict(credentials)
        self.timeout = float(timeout if timeout is not None else self.credentials.get("timeout", DEFAULT_TIMEOUT))
        self._session = ks_session.Session(verify=tls_verify(self.credentials), timeout=self.timeout)
        self._service: ks_session.Session | None = None
        self._trustee: str | None = None
        self._lock = threading.Lock()
        hide_token_bodies()
        _redact_trust_paths()

    def _v3(self) -> str:
        if not self.credentials.get("auth_url"):
            raise TrustFailed("this server sets no service_credentials.auth_url (Keystone), which trust+ actions "
                              "need")
        return identity_v3_url(self.credentials["auth_url"])

    def trustee_id(self) -> str:
        """The service user's id (Aodh: ``get_user_id()`` of its session), asked of Keystone once."""
        if self._trustee is not None:
            return self._trustee
        self._v3()
        with self._lock:
            if self._service is None:
                self._service = ks_session.Session(auth=service_plugin(self.credentials),
                                                   verify=tls_verify(self.credentials), timeout=self.timeout)
            service = self._service
        try:
            user_id = service.get_user_id()
        except ks_exceptions.HttpError as e:
            raise TrustFailed(f"the service user of service_credentials cannot sign in to Keystone "
                              f"(HTTP {e.http_status})", keystone_status=e.http_status) from None
        except ks_exceptions.ClientException as e:
            raise _no_answer(e, self.timeout) from None
        if not user_id:
            raise TrustFailed("Keystone named no user for the service user of service_credentials")
        self._trustee = user_id
        return user_id

    def create(self, token: str, trustor_user_id: str, project_id: str, roles: Sequence[str]) -> str:
        """A new trust from the caller (``token`` is its own) to the service user; its id."""
        body = {"trust": {"trustor_user_id": trustor_user_id, "trustee_user_id": self.trustee_id(),
                          "project_id": project_id, "impersonation": True, "roles": [{"name": r} for r in roles]}}
        response = self._call("POST", f"{self._v3()}/OS-TRUST/trusts", token, json=body)
        try:
            trust_id = response.json()["trust"]["id"]
        except (ValueError, KeyError, TypeError):
            trust_id = None
        if not isinstance(trust_id, str) or not trust_id:
            raise TrustFailed(f"Keystone answered HTTP {response.status_code} without a trust",
                              keystone_status=response.status_code)
        return trust_id

    def delete(self, token: str, trust_id: str) -> bool:
        """Delete the trust with the caller's ``token`` (as Aodh); False when Keystone no longer had it."""
        try:
            self._call("DELETE", f"{self._v3()}/OS-TRUST/trusts/{trust_id}", token)
        except TrustFailed as e:
            if e.keystone_status == 404:
                return False
            raise
        return True

    def _call(self, method: str, url: str, token: str, **kwargs: Any) -> Any:
        """One request with the caller's token, unlogged; Keystone's refusals become :class:`TrustFailed`."""
        try:
            response = self._session.request(url, method, headers={"X-Auth-Token": token}, authenticated=False,
                                             log=False, redirect=False, **kwargs)
        except ks_exceptions.HttpError as e:
            status = e.http_status
            if status is not None and 400 <= status < 500:
                # Keystone's message names the caller's problem (a role, the token); never a trust id when
                # creating, so it is shown then; on delete it may name the trust, so it is left out.
                message = _keystone_message(e) if method == "POST" else None
                detail = f": {message}" if message else ""
                raise TrustFailed(f"Keystone refused (HTTP {status}){detail}", keystone_status=status,
                                  refused=True) from None
            raise TrustFailed(f"Keystone failed (HTTP {status})", keystone_status=status) from None
        except ks_exceptions.ClientException as e:
            raise _no_answer(e, self.timeout) from None
        if response.status_code >= 300:  # a redirect, which would leave the configured Keystone
            raise TrustFailed(f"Keystone answered HTTP {response.status_code}", keystone_status=response.status_code)
        return response


def _keystone_message(error: ks_exceptions.HttpError) -> str | None:
    """The ``error.message`` of Keystone's answer (``{"error": {"code", "title", "message"}}``), if any."""
    try:
        message = error.response.json()["error"]["message"]
    except (AttributeError, ValueError, KeyError, TypeError):
        return None
    return message if isinstance(message, str) else None


def _no_answer(error: Exception, timeout: float) -> TrustFailed:
    """No usable answer from Keystone (connection refused, timed out, TLS): named by kind, never by URL."""
    if isinstance(error, ks_exceptions.ConnectTimeout):
        return TrustFailed(f"Keystone did not answer within {timeout:g} s")
    if isinstance(error, ks_exceptions.SSLError):
        return TrustFailed("Keystone's TLS certificate was refused")
    if isinstance(error, ks_exceptions.ConnectFailure):
        return TrustFailed("cannot connect to Keystone")
    return TrustFailed(f"no answer from Keystone ({type(error).__name__})")
