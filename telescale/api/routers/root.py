"""Version discovery, health, capabilities and the processing backlog (`/v1/status`)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from telescale import __version__
from telescale.api.access import enforce
from telescale.api.auth import Identity, get_identity
from telescale.api.deps import base_url, services
from telescale.api.jsonio import json_response
from telescale.api.openapi import JSON_ONLY, doc
from telescale.api.params import parse_bool
from telescale.metering.ownership import GROUP as AGENTS_GROUP
from telescale.service import workers_alive
from telescale.timeseries import BASIC_METHODS

router = APIRouter()

V1_LINKS = tuple(sorted(("archive_policy", "archive_policy_rule", "metric", "resource", "resource_type", "batch",
                         "search", "aggregates", "aggregation", "capabilities", "status", "influxdb")))


# The Gnocchi release whose API this one serves.  `build` leads with it, so a client that checks for a
# minimum Gnocchi version compares against the API it gets, and carries Telescale's own version as PEP 440
# local version label ("4.7.1+telescale.0.1.0" sorts after 4.7.1's API level, never below it).
GNOCCHI_API_VERSION = "4.7.1"
BUILD = f"{GNOCCHI_API_VERSION}+telescale.{__version__}"


#: The version document `GET /` answers with `api.root_document = "aodh"` (Aodh's, for an endpoint that stands
#: in for Aodh alone, where clients discover the alarming API at the root).
AODH_RELEASED = "2013-02-13T00:00:00Z"
ROOT_DOCUMENTS = ("gnocchi", "aodh")


def aodh_versions(base: str) -> dict:
    return {"versions": {"values": [{
        "id": "v2",
        "links": [{"href": f"{base}/v2", "rel": "self"},
                  {"href": "https://docs.openstack.org/", "rel": "describedby", "type": "text/html"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.telemetry-v2+json"},
                        {"base": "application/xml", "type": "application/vnd.openstack.telemetry-v2+xml"}],
        "status": "stable",
        "updated": AODH_RELEASED,
    }]}}


@router.get("/", **doc(returns="Versions"))
def versions(request: Request) -> Response:
    """Gnocchi's version document (gnocchiclient shows `build` as the server version), or Aodh's."""
    if request.app.state.settings.api.root_document == "aodh":
        # json.dumps' spacing, as Aodh writes it (its own tests look for '"base": "application/json"').
        return Response(json.dumps(aodh_versions(base_url(request))), media_type="application/json")
    return json_response({"build": BUILD, "versions": [{
        "id": "v1.0",
        "status": "CURRENT",
        "updated": "2026-11-23T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}/v1/"}],
    }]})


@router.get("/healthcheck", **doc(errors=(503,)))
@router.head("/healthcheck", include_in_schema=False)
def healthcheck(request: Request) -> Response:
    """200 when the indexer answers; 503 otherwise, so load balancers stop routing here."""
    try:
        services(request).check_health()
    except Exception as e:  # noqa: BLE001 — any failure means unhealthy
        return Response(f"indexer unreachable: {e}", status_code=503, media_type="text/plain")
    return Response(status_code=200)


@router.get("/v1", **JSON_ONLY, **doc(returns="Links"))
@router.get("/v1/", **JSON_ONLY, include_in_schema=False)
def v1_index(request: Request) -> Response:
    base = base_url(request)
    links = [{"rel": "self", "href": f"{base}/v1"}]
    links += [{"rel": name, "href": f"{base}/v1/{name}"} for name in V1_LINKS]
    return json_response({"version": "1.0", "links": links})


@router.get("/v1/capabilities", **JSON_ONLY, **doc(returns="Capabilities"))
def capabilities() -> Response:
    methods = list(BASIC_METHODS) + [f"rate:{m}" for m in BASIC_METHODS]
    return json_response({"aggregation_methods": sorted(methods)})


@router.get("/v1/status", **JSON_ONLY,
            **doc(query=("details",), returns="Status"))
def status(request: Request, details: str = "true", identity: Identity = Depends(get_identity)) -> Response:
    """How many measures wait to be processed (per metric when `details` is true), and running totals."""
    enforce(request, identity, "get status")
    with_details = parse_bool(details, "details")
    svc = services(request)
    if with_details:
        per_metric = svc.incoming.backlog_per_metric()
        summary = {"metrics": len(per_metric), "measures": sum(per_metric.values())}
    else:
        metrics, measures = svc.incoming.backlog()
        summary = {"metrics": metrics, "measures": measures}
    storage: dict = {"summary": summary}
    if with_details:
        storage["measures_to_process"] = {str(k): v for k, v in per_metric.items()}
    processors = workers_alive(svc.settings, "processing", svc.group_view)
    evaluators = workers_alive(svc.settings, "alarming", svc.group_view)
    scalers = workers_alive(svc.settings, "scaling", svc.group_view)
    # Agents report to nobody but the ring they share (their coordination_url): seen when it is this one's.
    agents = svc.group_view.members(AGENTS_GROUP) if svc.group_view is not None else {}
    return json_response({
        "storage": storage,
        "metricd": {"processors": list(processors), "statistics": processors},
        # Telescale's alarm evaluators, shown as metricd's processing workers are.
        "alarming": {"evaluators": list(evaluators), "statistics": evaluators},
        "scaling": {"scalers": list(scalers), "statistics": scalers},
        "agents": {"members": list(agents)},
        # Beside Gnocchi's two keys (its clients count theirs): running totals since the indexer was
        # created, summed over every API and metricd process.
        "totals": svc.indexer.totals(),
    })
