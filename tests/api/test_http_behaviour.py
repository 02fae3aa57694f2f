"""Proxy headers, CORS, pagination links and Location headers as clients see them."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import make_client


def test_forwarded_and_x_forwarded_headers_shape_urls(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        r = c.get("/", headers={"Forwarded": "for=192.0.2.60;proto=https;host=metrics.example"})
        assert r.json()["versions"][0]["links"][0]["href"] == "https://metrics.example/v1/"
        r = c.get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "lb",
                                "X-Forwarded-Prefix": "/telescale/"})
        assert r.json()["versions"][0]["links"][0]["href"] == "https://lb/telescale/v1/"
        r = c.post("/v1/metric", json={"archive_policy_name": "low"}, headers={"X-Forwarded-Host": "lb"})
        assert r.headers["location"].startswith("http://lb/v1/metric/")


def test_proxy_headers_ignored_when_disabled(tmp_path: Path) -> None:
    with make_client(tmp_path, overrides=("api.enable_proxy_headers_parsing=false",)) as c:
        r = c.get("/", headers={"Forwarded": "proto=https;host=evil"})
        assert "evil" not in r.text


def test_cors(tmp_path: Path) -> None:
    with make_client(tmp_path, overrides=('api.cors_allowed_origins=["http://ui.example"]',)) as c:
        pre = {"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"}
        r = c.options("/v1/metric", headers=pre)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "http://ui.example"
        assert r.headers["access-control-allow-methods"] == "POST"
        r = c.options("/v1/metric", headers={**pre, "Origin": "http://other"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        r = c.get("/v1/metric", headers={"Origin": "http://ui.example"})
        assert r.headers["access-control-allow-origin"] == "http://ui.example"
        assert "access-control-allow-origin" not in c.get("/v1/metric", headers={"Origin": "http://x"}).headers


def test_pagination_link_and_max_limit(tmp_path: Path) -> None:
    with make_client(tmp_path, overrides=("api.max_limit=3",)) as c:
        ids = sorted(c.post("/v1/metric", json={"archive_policy_name": "low"}).json()["id"] for _ in range(5))
        r = c.get("/v1/metric?limit=100")
        page1 = [m["id"] for m in r.json()]
        assert page1 == ids[:3]
        link = r.headers["link"]
        assert link == f'<http://testserver/v1/metric?limit=100&marker={ids[2]}>; rel="next"'
        r = c.get(link[1:link.index(">")].replace("http://testserver", ""))
        assert [m["id"] for m in r.json()] == ids[3:]
        assert "link" not in r.headers


def test_openapi_and_healthcheck(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        spec = c.get("/openapi.json").json()
        assert "/v1/metric/{metric_id}/measures" in spec["paths"]
        assert c.get("/healthcheck", headers={"authorization": ""}).status_code == 200


def test_errors_are_json_when_asked_and_plain_text_otherwise(tmp_path: Path) -> None:
    with make_client(tmp_path) as c:
        r = c.get("/v1/metric/not-a-metric")
        assert r.status_code == 404 and r.json()["description"] == "Metric not-a-metric does not exist"
        r = c.get("/v1/metric/not-a-metric", headers={"accept": "*/*"})
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")
        assert "The resource could not be found." in r.text and "Metric not-a-metric does not exist" in r.text
        r = c.get("/v1/metric", headers={"accept": "text/plain"})
        assert r.status_code == 406 and r.text.startswith("406 Not Acceptable")
