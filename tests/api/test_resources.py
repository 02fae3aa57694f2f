"""Resource types and typed resources over HTTP: validation, ETag preconditions, history, search, delete."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import USER

PATCH = {"content-type": "application/json-patch+json"}


def _type(client: TestClient) -> None:
    r = client.post("/v1/resource_type", json={"name": "host", "attributes": {
        "name": {"type": "string", "max_length": 5}, "cores": {"type": "number", "required": False, "min": 1}}})
    assert r.status_code == 201, r.text
    assert r.json()["attributes"]["name"] == {"type": "string", "required": True, "min_length": 0, "max_length": 5}


def test_resource_type_admin_and_patch(client: TestClient) -> None:
    assert client.post("/v1/resource_type", json={"name": "x"}, headers=USER).status_code == 403
    _type(client)
    r = client.patch("/v1/resource_type/host", headers=PATCH, json=[
        {"op": "add", "path": "/attributes/up", "value": {"type": "bool", "required": True, "options": {"fill": True}}},
        {"op": "remove", "path": "/attributes/cores"}])
    assert r.status_code == 200, r.text
    assert set(r.json()["attributes"]) == {"name", "up"}
    r = client.patch("/v1/resource_type/host", headers=PATCH, json=[{"op": "remove", "path": "/attributes/nope"}])
    assert r.status_code == 400 and "can't remove a non-existent object 'nope'" in r.text
    assert client.delete("/v1/resource_type/host").status_code == 204
    assert client.get("/v1/resource_type/host").status_code == 404


def test_typed_resource_etag_history_and_search(client: TestClient) -> None:
    _type(client)
    r = client.post("/v1/resource/host", json={"id": "h-1", "name": "toolong"})
    assert r.status_code == 400 and r.json()["description"]["detail"] == ["name"]
    r = client.post("/v1/resource/host", json={"id": "h-1", "name": "a", "cores": 2})
    assert r.status_code == 201, r.text
    rid, etag = r.json()["id"], r.headers["etag"]
    assert r.json()["original_resource_id"] == "h-1"
    assert client.get(f"/v1/resource/host/{rid}", headers={"if-none-match": etag}).status_code == 304
    r = client.patch(f"/v1/resource/host/{rid}", json={"name": "b"}, headers={"if-match": '"nope"'})
    assert r.status_code == 412
    r = client.patch(f"/v1/resource/host/{rid}", json={"name": "b"}, headers={"if-match": etag})
    assert r.status_code == 200 and r.json()["name"] == "b" and r.headers["etag"] != etag
    assert client.patch(f"/v1/resource/host/{rid}", json={"name": "c"}, headers=USER).status_code == 403
    history = client.get("/v1/resource/host/h-1/history").json()
    assert [h["name"] for h in history] == ["a", "b"]
    assert history[0]["revision_end"] == history[1]["revision_start"]
    assert len(client.get("/v1/resource/host?history=true").json()) == 2
    listed = client.get("/v1/resource/generic?attrs=id&attrs=type").json()
    assert listed == [{"id": rid, "type": "host"}]
    r = client.post("/v1/search/resource/host", json={">=": {"cores": 2}})
    assert [x["id"] for x in r.json()] == [rid]
    assert client.post("/v1/search/resource/host?filter=cores%20%3E%202").json() == []
    r = client.post("/v1/search/resource/host", json={"=": {"nope": 1}})
    assert r.status_code == 400
    assert client.delete("/v1/resource_type/host").status_code == 400
    assert client.request("DELETE", "/v1/resource/host").status_code == 400
    r = client.request("DELETE", "/v1/resource/host", json={"=": {"name": "b"}})
    assert r.json() == {"deleted": 1}
    assert client.get(f"/v1/resource/host/{rid}").status_code == 404


def test_metrics_by_name(client: TestClient) -> None:
    r = client.post("/v1/resource/generic", json={"id": "r1", "metrics": {"cpu": {"archive_policy_name": "low"}}})
    assert r.status_code == 201, r.text
    r = client.post("/v1/resource/generic/r1/metric", json={"mem": {"archive_policy_name": "low"}})
    assert r.status_code == 200, r.text
    assert sorted(m["name"] for m in client.get("/v1/resource/generic/r1/metric").json()) == ["cpu", "mem"]
    r = client.post("/v1/resource/generic/r1/metric", json={"mem": {"archive_policy_name": "low"}})
    assert r.status_code == 409
