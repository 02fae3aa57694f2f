"""/openapi.json describes what the API really takes and answers; /docs works without the Internet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import make_client

METHODS = ("get", "post", "patch", "put", "delete")


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c
        c.app.state.services.close()


@pytest.fixture
def spec(app_client: TestClient) -> dict[str, Any]:
    return app_client.get("/openapi.json").json()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_docs_load_only_local_files(app_client: TestClient) -> None:
    r = app_client.get("/docs", headers={"authorization": "", "accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)="([^"]+)"|url: '([^']+)'""", r.text)
    urls = [a or b for a, b in urls]
    assert urls and not [u for u in urls if "//" in u], urls
    expected = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}
    for url in urls:
        got = app_client.get(url, headers={"authorization": "", "accept": "*/*"})
        assert got.status_code == 200, url
        assert expected[Path(url).suffix] in got.headers["content-type"], (url, got.headers["content-type"])


def test_docs_follow_the_proxy_prefix(app_client: TestClient) -> None:
    r = app_client.get("/docs", headers={"X-Forwarded-Prefix": "/telescale"})
    assert "src=\"/telescale/docs/static/swagger-ui-bundle.js\"" in r.text
    assert "url: '/telescale/openapi.json'" in r.text


def test_description_says_what_this_release_does(spec: dict[str, Any]) -> None:
    text = spec["info"]["description"]
    for feature in ("archive policies", "metrics", "measures", "resources", "resource types", "search",
                    "aggregates", "batch", "status", "Gnocchi v1", "Aodh v2 API"):
        assert feature in text
    assert "**autoscaling**" in text and "/v1/scaling_group" in text and "Metric collection" in text
    assert "remote_write" in text and "/v1/otlp/v1/metrics" in text
    assert "later releases" in text


def test_no_422_and_errors_in_gnocchi_shape(spec: dict[str, Any]) -> None:
    """Gnocchi's error shape on /v1, Aodh's on /v2."""
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "title", "description"}
    assert spec["components"]["schemas"]["AodhError"]["required"] == ["error_message"]
    for path, method, operation in operations(spec):
        codes = set(operation["responses"])
        assert "422" not in codes, (method, path)
        aodh = path.startswith("/v2/")
        for code in codes - {"200", "201", "202", "204"}:
            if aodh:
                assert operation["responses"][code] == {"$ref": f"#/components/responses/Aodh{code}"}, (path, code)
                assert spec["components"]["responses"][f"Aodh{code}"]["content"]["application/json"]["schema"] == \
                    {"$ref": "#/components/schemas/AodhError"}
                continue
            assert operation["responses"][code] == {"$ref": f"#/components/responses/{code}"} or \
                operation["responses"][code]["content"]["application/json"]["schema"] == \
                {"$ref": "#/components/schemas/Error"}, (method, path, code)
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= codes, (method, path)
        if any(p["in"] == "path" for p in operation.get("parameters", ())):
            assert "404" in codes, (method, path)


def test_auth_is_declared_where_it_is_needed(spec: dict[str, Any], app_client: TestClient) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["basic"] == {**schemes["basic"], "type": "http", "scheme": "basic"}
    assert schemes["keystone"]["name"] == "X-Auth-Token"
    assert {schemes[s]["name"] for s in ("noauthUser", "noauthProject", "noauthRoles")} == {
        "X-User-Id", "X-Project-Id", "X-Roles"}
    for path, method, operation in operations(spec):
        public = path in ("/", "/healthcheck", "/v1", "/v1/capabilities", "/v1/signal/{token}",
                          "/v1/influxdb/ping")
        assert ("security" in operation) is not public, (method, path)
        if not public:
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            if "{" not in path and method == "get":
                assert app_client.get(path, headers={"authorization": ""}).status_code == 401, path


@pytest.mark.parametrize("method, path, names", [
    ("get", "/v1/metric", {"limit", "marker", "sort", "name", "archive_policy_name", "resource_id"}),
    ("get", "/v1/metric/{metric_id}/measures", {"aggregation", "granularity", "start", "stop", "resample",
                                                "refresh"}),
    ("get", "/v1/resource/{rtype}", {"limit", "marker", "sort", "details", "history", "attrs"}),
    ("post", "/v1/search/resource/{rtype}", {"filter", "details", "history", "attrs", "limit"}),
    ("post", "/v1/aggregates", {"details", "use_history", "refresh", "start", "stop", "granularity",
                                "needed_overlap", "fill", "groupby"}),
    ("get", "/v1/aggregation/metric", {"metric", "aggregation", "reaggregation", "resample", "fill"}),
    ("post", "/v1/aggregation/resource/{rtype}/metric/{name}", {"groupby", "filter", "needed_overlap"}),
    ("post", "/v1/batch/resources/metrics/measures", {"create_metrics"}),
    ("post", "/v1/search/metric", {"metric_id", "granularity", "aggregation"}),
    ("get", "/v1/status", {"details"}),
])
def test_query_parameters_are_listed(spec: dict[str, Any], method: str, path: str, names: set[str]) -> None:
    params = spec["paths"][path][method]["parameters"]
    query = {p["name"]: p for p in params if p["in"] == "query"}
    assert names <= set(query)
    assert len(params) == len({(p["in"], p["name"]) for p in params})
    assert all(p["schema"] and p.get("description") for p in query.values()), path


# Each documented example body, sent as documented, in an order where what it names exists.
EXAMPLES = [
    ("post", "/v1/archive_policy", "/v1/archive_policy", 201),
    ("patch", "/v1/archive_policy/{name}", "/v1/archive_policy/five-minutes", 200),
    ("post", "/v1/archive_policy_rule", "/v1/archive_policy_rule", 201),
    ("patch", "/v1/archive_policy_rule/{name}", "/v1/archive_policy_rule/cpu", 200),
    ("post", "/v1/metric", "/v1/metric", 201),
    ("post", "/v1/resource_type", "/v1/resource_type", 201),
    ("patch", "/v1/resource_type/{name}", "/v1/resource_type/host", 200),
    ("post", "/v1/resource/{rtype}", "/v1/resource/generic", 201),
    ("patch", "/v1/resource/{rtype}/{resource_id}", "/v1/resource/generic/host-1", 200),
    ("post", "/v1/resource/{rtype}/{resource_id}/metric", "/v1/resource/generic/host-1/metric", 200),
    ("post", "/v1/resource/{rtype}/{resource_id}/metric/{name}/measures",
     "/v1/resource/generic/host-1/metric/cpu.util/measures", 202),
    ("post", "/v1/batch/resources/metrics/measures", "/v1/batch/resources/metrics/measures?create_metrics=true",
     202),
    ("post", "/v1/search/resource/{rtype}", "/v1/search/resource/generic", 200),
    ("post", "/v1/aggregates", "/v1/aggregates", 200),
    ("post", "/v2/events", "/v2/events", 202),
]


def test_documented_examples_work(spec: dict[str, Any], app_client: TestClient) -> None:
    for method, template, url, status in EXAMPLES:
        operation = spec["paths"][template][method]
        assert str(status) in operation["responses"]
        media, content = next(iter(operation["requestBody"]["content"].items()))
        r = app_client.request(method, url, json=content["example"], headers={"content-type": media})
        assert r.status_code == status, (method, url, r.text)
    metric = app_client.get("/v1/resource/generic/host-1").json()["metrics"]["cpu.util"]
    example = spec["paths"]["/v1/search/metric"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert app_client.post(f"/v1/search/metric?metric_id={metric}", json=example).status_code == 200
