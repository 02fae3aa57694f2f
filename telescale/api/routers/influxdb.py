"""`/v1/influxdb`: the InfluxDB 1.x write API as Gnocchi offers it (ping, ``CREATE DATABASE``, line protocol).

A database is a resource type; each point goes to the resource named by one of its tags (``host``, or the
tag named by ``X-Gnocchi-InfluxDB-Tag-Resource-ID``) and to the metric ``measurement.field@tag=value,…``
(other tags sorted, ``/`` written ``_``), created when missing with its policy from the archive policy rules.
"""

from __future__ import annotations

import contextlib
import time
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import __version__
from telescale.api.access import enforce
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import raw_body, services, with_body
from telescale.api.errors import ApiError, bad_request, not_found
from telescale.api.openapi_ingest import INFLUX_PING, INFLUX_QUERY, INFLUX_WRITE
from telescale.indexer import NoSuchResourceType, ResourceTypeAlreadyExists
from telescale.ingest import influx, series

router = APIRouter(prefix="/v1/influxdb", tags=["influxdb"], **with_body({}))

TAG_HEADER = "X-Gnocchi-InfluxDB-Tag-Resource-ID"
_VERSION_HEADERS = {"X-Influxdb-Version": f"Telescale {__version__}"}


@router.head("/ping", include_in_schema=False)
@router.get("/ping", **INFLUX_PING)
def ping() -> Response:
    """Liveness, as InfluxDB answers it (clients such as Telegraf call it before writing)."""
    return Response(status_code=204, headers=_VERSION_HEADERS)


@router.post("/query", **INFLUX_QUERY)
def query(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Only ``CREATE DATABASE <name>``: creates the resource type ``<name>`` (without attributes)."""
    q = request.query_params.get("q")
    if q is None and "form" in request.headers.get("content-type", ""):
        q = (parse_qs(raw_body(request).decode(errors="replace")).get("q") or [None])[0]
    if q is None:
        raise bad_request({"cause": "Invalid input", "reason": "missing query", "detail": "q"})
    name = influx.create_database(q)
    if name is None:
        raise ApiError(501, {"cause": "Not implemented error", "detail": "q", "reason": "Query not implemented"},
                       hint="only CREATE DATABASE <name> is implemented")
    if "/" in name or len(name) > 255:
        raise bad_request({"cause": "Invalid input", "detail": "q",
                           "reason": f"database name {name[:300]!r} must be at most 255 characters, without '/'"})
    enforce(request, identity, "create resource type", {"name": name})
    with contextlib.suppress(ResourceTypeAlreadyExists):
        services(request).indexer.create_resource_type(name, {})
    return Response(status_code=204, headers=_VERSION_HEADERS)


@router.post("/write", **INFLUX_WRITE)
def write(request: Request, identity: Identity = Depends(get_identity)) -> Response:
    """Line protocol into one incoming write; 204 as InfluxDB answers."""
    db = request.query_params.get("db") or "influxdb"
    precision = request.query_params.get("precision") or "ns"
    if precision not in influx.PRECISIONS:
        raise bad_request({"cause": "Argument value error", "detail": "precision",
                           "reason": f"precision must be one of {', '.join(influx.PRECISIONS)}"})
    try:
        services(request).indexer.get_resource_type(db)
    except NoSuchResourceType:
        raise not_found(f"Resource type {db} does not exist: create the database first (CREATE DATABASE {db})") \
            from None
    tag = request.headers.get(TAG_HEADER, influx.DEFAULT_TAG)
    try:
        points = influx.parse(raw_body(request), tag, precision, time.time_ns())
    except influx.LineError as e:
        raise bad_request({"cause": "Value error", "detail": e.detail, "reason": e.reason}, e.hint) from None
    keys = [series.SeriesKey(db, resource, metric) for resource, metric in points.series]
    metrics = series.resolve(request, identity, keys)
    response = series.write_arrays(request, metrics, points.index, points.timestamps, points.values)
    return response if response.body else Response(status_code=204, headers=_VERSION_HEADERS)
