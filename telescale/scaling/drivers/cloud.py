"""A Keystone session for the OpenStack drivers (heat, nova): the service user, scoped to its project.

Credentials are the ``[service_credentials]`` settings, as for alarm trusts (:mod:`telescale.alarming.
notifiers.keystone`), plus the project the scaled stacks and servers belong to: ``project_name`` (with
``project_domain_id``, default ``default``, or ``project_domain_name``) or ``project_id``; ``region_name`` and
``interface`` (default ``public``) choose the endpoints in the catalog. keystoneauth1 fetches a token once and
again only when it is about to expire. Everything here blocks: call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from telescale.alarming.notifiers.keystone import hide_token_bodies, identity_v3_url, tls_verify
from telescale.scaling.drivers.base import ActuationFailed


def project_plugin(credentials: Mapping[str, Any]) -> v3.Password:
    """The service user's password identity, scoped to its project, with the service catalog."""
    for key in ("auth_url", "password"):
        if not credentials.get(key):
            raise ActuationFailed(f"service_credentials.{key} is required by the OpenStack member drivers",
                                  retry=False)
    if not (credentials.get("username") or credentials.get("user_id")):
        raise ActuationFailed("service_credentials.username (or user_id) is required by the OpenStack member "
                              "drivers", retry=False)
    if not (credentials.get("project_name") or credentials.get("project_id")):
        raise ActuationFailed("service_credentials.project_name (or project_id) is required by the OpenStack "
                              "member drivers: the project of the scaled stacks and servers", retry=False)
    user_domain = {"user_domain_name": credentials["user_domain_name"]} if credentials.get("user_domain_name") else {
        "user_domain_id": credentials.get("user_domain_id", "default")}
    project_domain: dict[str, Any] = {}
    if credentials.get("project_name"):
        project_domain = ({"project_domain_name": credentials["project_domain_name"]}
                          if credentials.get("project_domain_name")
                          else {"project_domain_id": credentials.get("project_domain_id", "default")})
    return v3.Password(auth_url=identity_v3_url(credentials["auth_url"]), username=credentials.get("username"),
                       user_id=credentials.get("user_id"), password=credentials["password"],
                       project_id=credentials.get("project_id"), project_name=credentials.get("project_name"),
                       include_catalog=True, **user_domain, **project_domain)


def project_session(credentials: Mapping[str, Any], timeout: float) -> ks_session.Session:
    hide_token_bodies()
    return ks_session.Session(auth=project_plugin(credentials), verify=tls_verify(credentials), timeout=timeout,
                              user_agent="telescale-scaler")


def endpoint(session: ks_session.Session, credentials: Mapping[str, Any], service_type: str) -> str:
    """The catalog's URL of ``service_type`` (in ``region_name``, on ``interface``), without a trailing slash."""
    try:
        url = session.get_endpoint(service_type=service_type, interface=credentials.get("interface", "public"),
                                    region_name=credentials.get("region_name"))
    except ks_exceptions.ClientException as e:
        raise failure("Keystone", e) from None
    if not url:
        raise ActuationFailed(f"the Keystone catalog has no {service_type} endpoint"
                              f" (interface {credentials.get('interface', 'public')}"
                              f"{', region ' + credentials['region_name'] if credentials.get('region_name') else ''})",
                              retry=False)
    return url.rstrip("/")


def failure(peer: str, error: Exception) -> ActuationFailed:
    """A keystoneauth error as an ``ActuationFailed``: refusals are final, outages may pass."""
    if isinstance(error, ks_exceptions.Unauthorized | ks_exceptions.Forbidden):
        return ActuationFailed(f"{peer} refused the service credentials (HTTP {error.http_status})", retry=False)
    if isinstance(error, ks_exceptions.HttpError):
        retry = error.http_status is None or error.http_status >= 500 or error.http_status == 429
        return ActuationFailed(f"{peer} answered HTTP {error.http_status}: {error.message}", retry=retry)
    if isinstance(error, ks_exceptions.EndpointNotFound | ks_exceptions.EmptyCatalog):
        return ActuationFailed(f"{peer}: {error}", retry=False)
    return ActuationFailed(f"cannot reach {peer}: {type(error).__name__}: {error}", retry=True)
