"""The application factory: one router per resource family, errors in Gnocchi's shape."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from telescale import __version__
from telescale.api import openapi
from telescale.api.auth import AUTH_MODES
from telescale.api.errors import (
    ApiError,
    allowed_methods,
    aodh_error_response,
    aodh_http_message,
    error_response,
    is_aodh_request,
)
from telescale.api.middleware import CORSMiddleware, ProxyHeadersMiddleware, SlashesMiddleware
from telescale.api.policy import Policy
from telescale.api.routers import (
    aggregates,
    aggregation_resource,
    archive_policy,
    archive_policy_rule,
    batch,
    collectd,
    influxdb,
    metric,
    otlp,
    prometheus,
    resource,
    resource_type,
    root,
    scaling_group,
    scaling_policy,
    search_metric,
    silence,
    v2_alarm_query,
    v2_alarm_state,
    v2_alarms,
    v2_capabilities,
    v2_events,
    v2_quotas,
)
from telescale.ingest.remote_write import MODES
from telescale.scaling.engine import ScalingEngine

if TYPE_CHECKING:
    from telescale.config import Settings
    from telescale.drivers import Drivers

LOG = logging.getLogger(__name__)


def create_app(settings: Settings, services: Drivers) -> FastAPI:
    app = FastAPI(
        title="Telescale",
        version=__version__,
        description=openapi.DESCRIPTION,
        openapi_url=openapi.OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        default_response_class=Response,  # handlers build their responses; openapi.doc describes them
    )
    if settings.api.auth_mode not in AUTH_MODES:
        raise ValueError(f"api.auth_mode must be one of {', '.join(AUTH_MODES)}, not {settings.api.auth_mode!r}")
    if settings.api.root_document not in root.ROOT_DOCUMENTS:
        raise ValueError(f"api.root_document must be one of {', '.join(root.ROOT_DOCUMENTS)}, "
                         f"not {settings.api.root_document!r}")
    if settings.ingest.prometheus_metric_names not in MODES:
        raise ValueError(f"ingest.prometheus_metric_names must be one of {', '.join(MODES)}, "
                         f"not {settings.ingest.prometheus_metric_names!r}")
    app.state.settings = settings
    app.state.services = services
    app.state.policy = Policy(settings.api.policy_file)
    app.state.scaling = ScalingEngine(services.indexer, services.query,
                                      prometheus_url=settings.alarming.prometheus_url,
                                      timeout=settings.alarming.notifier_timeout)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        if is_aodh_request(request):
            return aodh_error_response(exc.status, exc.description, exc.headers)
        return error_response(exc.status, exc.description, exc.headers, request.headers.get("accept"), exc.hint)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if is_aodh_request(request):
            headers = dict(exc.headers or {}) | ({"Allow": allowed_methods(request)} if exc.status_code == 405 else {})
            return aodh_error_response(exc.status_code, aodh_http_message(exc.status_code, request.method), headers)
        return error_response(exc.status_code, exc.detail, dict(exc.headers or {}), request.headers.get("accept"))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:])
        return error_response(400, {"cause": "Invalid input", "reason": first.get("msg", "invalid"),
                                    "detail": field}, accept=request.headers.get("accept"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        LOG.exception("unexpected error on %s %s", request.method, request.url.path)
        if is_aodh_request(request):
            return aodh_error_response(500, "Internal error: see the server log")
        return error_response(500, "Internal error: see the server log", accept=request.headers.get("accept"))

    for module in (root, archive_policy, archive_policy_rule, metric, batch, resource, resource_type, aggregates,
                   aggregation_resource, search_metric, v2_alarms, v2_alarm_state, v2_alarm_query, v2_capabilities,
                   v2_quotas, v2_events, scaling_group, scaling_policy, silence, otlp, collectd, prometheus,
                   influxdb):
        app.include_router(module.router)
    app.include_router(scaling_policy.signals)
    openapi.install(app)
    if settings.api.auth_mode == "keystone":
        from telescale.api.keystone import KeystoneMiddleware  # imported only when used: it is heavy

        app.add_middleware(KeystoneMiddleware, conf=settings.keystone_authtoken)
    app.add_middleware(CORSMiddleware, allowed_origins=settings.api.cors_allowed_origins)
    if settings.api.enable_proxy_headers_parsing:
        app.add_middleware(ProxyHeadersMiddleware)
    app.add_middleware(SlashesMiddleware)
    return app
